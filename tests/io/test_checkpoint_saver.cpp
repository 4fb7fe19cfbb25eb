// The checkpoint saver of `kasmina train` (src/cli/checkpoint_saver.hpp): the write happens
// beside the caller, is announced only once the file is in place, keeps the retention, waits
// for the write before it at the next save, and a failed write fails at the next wait.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/checkpoint_saver.hpp"
#include "io/checkpoint_files.hpp"
#include "io/checkpoint_layout.hpp"
#include "io_test_util.hpp"
#include "same_state.hpp"

namespace kasmina::cli {
namespace {

namespace fs = std::filesystem;
using io::test::expect_same_state;
using io::test::synthetic_state;
using io::test::TempDir;

// What the saver told its owner.
struct Record {
  std::vector<std::string> announced;
  int valuable = 0;
};

CheckpointSaver make_saver(const TempDir& dir, int64_t keep, Record& rec, bool background) {
  return CheckpointSaver(
      dir.path(), keep, [&rec](const std::string& p) { rec.announced.push_back(p); },
      [&rec] { ++rec.valuable; }, background);
}

// The writer's fault hook holds the file back (half of it in its temporary) for `seconds`.
class FaultPause {
 public:
  explicit FaultPause(double seconds) {
    ::setenv(io::checkpoint_layout::kFaultPauseEnv, std::to_string(seconds).c_str(), 1);
  }
  ~FaultPause() { ::unsetenv(io::checkpoint_layout::kFaultPauseEnv); }
};

#define SKIP_WITHOUT_BACKGROUND_WRITES()                                                      \
  if (!background_checkpoints_possible())                                                     \
  GTEST_SKIP() << "the HDF5 library here is not thread-safe: checkpoints are written on the " \
                  "training thread"

TEST(CheckpointSaver, WritesBesideTheCallerAndAnnouncesOnlyOnceInPlace) {
  SKIP_WITHOUT_BACKGROUND_WRITES();
  TempDir dir;
  Record rec;
  const io::CheckpointState state = synthetic_state(/*seed=*/0x5a7e, /*step=*/250);
  const std::string path = io::checkpoint_path(dir.path(), 250);
  {
    FaultPause pause(1.0);
    CheckpointSaver saver = make_saver(dir, 3, rec, true);
    ASSERT_TRUE(saver.background());
    saver.save(path, state);
    // A synchronous write would have slept a second inside save() and left the file in place.
    EXPECT_FALSE(fs::exists(path));
    saver.poll();
    EXPECT_TRUE(rec.announced.empty());
    EXPECT_EQ(rec.valuable, 0);
    EXPECT_EQ(saver.last(), "");
    saver.settle();
    EXPECT_EQ(saver.last(), path);
  }
  ASSERT_EQ(rec.announced, std::vector<std::string>{path});
  EXPECT_EQ(rec.valuable, 1);
  expect_same_state(state, io::read_checkpoint(path, /*verify=*/true));
}

TEST(CheckpointSaver, EachSaveWaitsForTheOneBeforeAndTheRetentionHolds) {
  SKIP_WITHOUT_BACKGROUND_WRITES();
  TempDir dir;
  Record rec;
  std::vector<io::CheckpointState> states;
  std::vector<std::string> paths;
  for (int64_t step : {100, 200, 300, 400}) {
    states.push_back(synthetic_state(static_cast<uint64_t>(step) * 7919, step));
    paths.push_back(io::checkpoint_path(dir.path(), step));
  }
  {
    FaultPause pause(0.05);
    CheckpointSaver saver = make_saver(dir, 2, rec, true);
    for (size_t i = 0; i < states.size(); ++i) {
      saver.save(paths[i], states[i]);
      // The save waited for the write before it: that one is announced and in place.
      ASSERT_EQ(rec.announced.size(), i);
      if (i > 0) {
        EXPECT_EQ(rec.announced.back(), paths[i - 1]);
        EXPECT_TRUE(fs::exists(paths[i - 1]));
      }
    }
    saver.settle();
  }
  EXPECT_EQ(rec.announced, paths);
  const std::vector<io::CheckpointFile> left = io::list_checkpoints(dir.path());
  ASSERT_EQ(left.size(), 2U);
  EXPECT_EQ(left[0].path, paths[2]);
  EXPECT_EQ(left[1].path, paths[3]);
  expect_same_state(states[2], io::read_checkpoint(paths[2], true));
  expect_same_state(states[3], io::read_checkpoint(paths[3], true));
}

// The checkpoints directory is a regular file: the system refuses the write.
void block_checkpoint_directory(const TempDir& dir) {
  std::ofstream(dir.file("checkpoints")) << "not a directory\n";
}

TEST(CheckpointSaver, AFailedBackgroundWriteThrowsAtTheNextWaitAndKeepsNothing) {
  SKIP_WITHOUT_BACKGROUND_WRITES();
  TempDir dir;
  block_checkpoint_directory(dir);
  Record rec;
  CheckpointSaver saver = make_saver(dir, 2, rec, true);
  const std::string path = io::checkpoint_path(dir.path(), 7);
  saver.save(path, synthetic_state(11, 7));  // returns: the failure comes from the writer
  try {
    saver.settle();
    FAIL() << "settle() did not report the failed write";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(rec.announced.empty());
  EXPECT_EQ(rec.valuable, 0);
  EXPECT_EQ(saver.last(), "");
  saver.settle();  // the failure is reported once
  // The next checkpoint, once the directory can be made, is written and announced.
  fs::remove(dir.file("checkpoints"));
  const std::string next = io::checkpoint_path(dir.path(), 8);
  saver.save(next, synthetic_state(12, 8));
  saver.settle();
  EXPECT_EQ(rec.announced, std::vector<std::string>{next});
  EXPECT_EQ(rec.valuable, 1);
}

TEST(CheckpointSaver, OnTheCallersThreadAFailedWriteThrowsAtOnce) {
  TempDir dir;
  block_checkpoint_directory(dir);
  Record rec;
  CheckpointSaver saver = make_saver(dir, 2, rec, false);
  EXPECT_FALSE(saver.background());
  EXPECT_THROW(saver.save(io::checkpoint_path(dir.path(), 3), synthetic_state(5, 3)),
               InternalError);
  EXPECT_TRUE(rec.announced.empty());
  fs::remove(dir.file("checkpoints"));
  const std::string path = io::checkpoint_path(dir.path(), 4);
  const io::CheckpointState state = synthetic_state(6, 4);
  saver.save(path, state);
  EXPECT_EQ(rec.announced, std::vector<std::string>{path});  // written before save() returned
  expect_same_state(state, io::read_checkpoint(path, true));
}

TEST(CheckpointSaver, DestructionWaitsForTheWriteAndKeepsTheRunDirectory) {
  SKIP_WITHOUT_BACKGROUND_WRITES();
  TempDir dir;
  Record rec;
  const std::string path = io::checkpoint_path(dir.path(), 40);
  const io::CheckpointState state = synthetic_state(0xd00d, 40);
  {
    FaultPause pause(0.3);
    CheckpointSaver saver = make_saver(dir, 2, rec, true);
    saver.save(path, state);
  }  // as when the run fails with the write in flight
  EXPECT_EQ(rec.valuable, 1);
  expect_same_state(state, io::read_checkpoint(path, true));
}

}  // namespace
}  // namespace kasmina::cli
