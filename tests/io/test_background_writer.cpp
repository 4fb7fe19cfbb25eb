// The background writer of `kasmina train` (src/cli/background_writer.hpp): a checkpoint is
// written beside the caller and announced only once in place, the retention holds, the next
// checkpoint waits for the one before, a telemetry store neither waits for a checkpoint nor
// lets older bytes land after newer ones, and a failed write fails at the next wait.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/background_writer.hpp"
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

// What the writer told its owner.
struct Record {
  std::vector<std::string> announced;
  int valuable = 0;
};

BackgroundWriter make_writer(const TempDir& dir, int64_t keep, Record& rec, bool hdf5_off_thread) {
  return BackgroundWriter(
      dir.path(), keep,
      {.checkpoint_written = [&rec](const std::string& p) { rec.announced.push_back(p); },
       .valuable = [&rec] { ++rec.valuable; }},
      hdf5_off_thread);
}

// The writer's fault hook holds the file back (half of it in its temporary) for `seconds`.
class FaultPause {
 public:
  explicit FaultPause(double seconds) {
    ::setenv(io::checkpoint_layout::kFaultPauseEnv, std::to_string(seconds).c_str(), 1);
  }
  ~FaultPause() { ::unsetenv(io::checkpoint_layout::kFaultPauseEnv); }
};

// Each case runs with the checkpoint's HDF5 file built by the worker (where the HDF5 library is
// thread-safe) and on the caller's thread; the stores are the worker's either way.
class BackgroundWriterTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam() && !background_hdf5_possible())
      GTEST_SKIP() << "the HDF5 library here is not thread-safe: checkpoints are built on the "
                      "training thread (the other case)";
  }
  BackgroundWriter writer(int64_t keep) { return make_writer(dir, keep, rec, GetParam()); }
  TempDir dir;
  Record rec;
};

TEST_P(BackgroundWriterTest, WritesACheckpointBesideTheCallerAndAnnouncesItOnlyOnceInPlace) {
  const io::CheckpointState state = synthetic_state(/*seed=*/0x5a7e, /*step=*/250);
  const std::string path = io::checkpoint_path(dir.path(), 250);
  {
    FaultPause pause(1.0);
    BackgroundWriter w = writer(3);
    w.save_checkpoint(path, state);
    // A write on the caller's thread would have slept a second and left the file in place.
    EXPECT_FALSE(fs::exists(path));
    w.poll();
    EXPECT_TRUE(rec.announced.empty());
    EXPECT_EQ(rec.valuable, 0);
    EXPECT_EQ(w.last_checkpoint(), "");
    w.settle();
    EXPECT_EQ(w.last_checkpoint(), path);
  }
  ASSERT_EQ(rec.announced, std::vector<std::string>{path});
  EXPECT_EQ(rec.valuable, 1);
  expect_same_state(state, io::read_checkpoint(path, /*verify=*/true));
}

TEST_P(BackgroundWriterTest, EachCheckpointWaitsForTheOneBeforeAndTheRetentionHolds) {
  std::vector<io::CheckpointState> states;
  std::vector<std::string> paths;
  for (int64_t step : {100, 200, 300, 400}) {
    states.push_back(synthetic_state(static_cast<uint64_t>(step) * 7919, step));
    paths.push_back(io::checkpoint_path(dir.path(), step));
  }
  {
    FaultPause pause(0.05);
    BackgroundWriter w = writer(2);
    for (size_t i = 0; i < states.size(); ++i) {
      w.save_checkpoint(paths[i], states[i]);
      // The call waited for the checkpoint before: that one is announced and in place.
      ASSERT_EQ(rec.announced.size(), i);
      if (i > 0) {
        EXPECT_EQ(rec.announced.back(), paths[i - 1]);
        EXPECT_TRUE(fs::exists(paths[i - 1]));
      }
    }
    w.settle();
  }
  EXPECT_EQ(rec.announced, paths);
  const std::vector<io::CheckpointFile> left = io::list_checkpoints(dir.path());
  ASSERT_EQ(left.size(), 2U);
  EXPECT_EQ(left[0].path, paths[2]);
  EXPECT_EQ(left[1].path, paths[3]);
  expect_same_state(states[2], io::read_checkpoint(paths[2], true));
  expect_same_state(states[3], io::read_checkpoint(paths[3], true));
}

std::vector<unsigned char> bytes_of(const std::string& text) {
  return {text.begin(), text.end()};
}

// The telemetry's stores queue behind a checkpoint without waiting for it, and of two stores
// of one file queued while the worker is busy only the newer is written.
TEST_P(BackgroundWriterTest, StoresDoNotWaitForACheckpointAndTheNewestBytesLand) {
  const std::string ck = io::checkpoint_path(dir.path(), 9), tel = dir.file("telemetry.h5");
  {
    FaultPause pause(1.0);
    BackgroundWriter w = writer(2);
    w.save_checkpoint(ck, synthetic_state(3, 9));
    w.store(tel, bytes_of("older rows"));
    w.store(tel, bytes_of("older rows and newer rows"));
    EXPECT_FALSE(fs::exists(ck));  // neither store waited for the checkpoint's write
    EXPECT_FALSE(fs::exists(tel));
    w.settle();
    EXPECT_EQ(rec.valuable, 2);  // the checkpoint and one store
  }
  EXPECT_EQ(io::test::read_bytes(tel), bytes_of("older rows and newer rows"));
  EXPECT_EQ(rec.announced, std::vector<std::string>{ck});
  // A store that has started is not replaced: both land, in order.
  Record again;
  {
    BackgroundWriter w = make_writer(dir, 2, again, GetParam());
    w.store(tel, bytes_of("first"));
    w.settle();
    w.store(tel, bytes_of("second"));
  }  // destruction writes what is queued
  EXPECT_EQ(io::test::read_bytes(tel), bytes_of("second"));
  EXPECT_EQ(again.valuable, 2);
}

// The checkpoints directory is a regular file: the system refuses the write.
void block_checkpoint_directory(const TempDir& dir) {
  std::ofstream(dir.file("checkpoints")) << "not a directory\n";
}

TEST_P(BackgroundWriterTest, AFailedWriteThrowsAtTheNextWaitOnceAndKeepsNothing) {
  block_checkpoint_directory(dir);
  BackgroundWriter w = writer(2);
  const std::string path = io::checkpoint_path(dir.path(), 7);
  w.save_checkpoint(path, synthetic_state(11, 7));  // returns: the failure is the worker's
  try {
    w.settle();
    FAIL() << "settle() did not report the failed write";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(rec.announced.empty());
  EXPECT_EQ(rec.valuable, 0);
  EXPECT_EQ(w.last_checkpoint(), "");
  w.settle();  // reported once
  // The next checkpoint, once the directory can be made, is written and announced.
  fs::remove(dir.file("checkpoints"));
  const std::string next = io::checkpoint_path(dir.path(), 8);
  const io::CheckpointState state = synthetic_state(12, 8);
  w.save_checkpoint(next, state);
  w.settle();
  EXPECT_EQ(rec.announced, std::vector<std::string>{next});
  EXPECT_EQ(rec.valuable, 1);
  expect_same_state(state, io::read_checkpoint(next, true));
}

TEST_P(BackgroundWriterTest, DestructionWaitsForTheWriteAndKeepsTheRunDirectory) {
  const std::string path = io::checkpoint_path(dir.path(), 40);
  const io::CheckpointState state = synthetic_state(0xd00d, 40);
  {
    FaultPause pause(0.3);
    BackgroundWriter w = writer(2);
    w.save_checkpoint(path, state);
  }  // as when the run fails with the write in flight
  EXPECT_EQ(rec.valuable, 1);
  expect_same_state(state, io::read_checkpoint(path, true));
}

INSTANTIATE_TEST_SUITE_P(HdfBuiltBy, BackgroundWriterTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Worker" : "Caller";
                         });

}  // namespace
}  // namespace kasmina::cli
