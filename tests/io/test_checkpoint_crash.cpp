// Crash safety of write_checkpoint: SIGKILL in the middle of a write (through the fault hook,
// and at random moments) never leaves a half file under a final name, and the previous
// checkpoint stays loadable and verified.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "io/checkpoint.hpp"
#include "io/checkpoint_files.hpp"
#include "io/checkpoint_layout.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

void kill_and_reap(test::ChildGuard& child) {
  const int status = child.kill_and_reap();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early";
}

// A state large enough that a write takes a while.
CheckpointState big_state(uint64_t seed, int64_t step) {
  CheckpointState s = test::synthetic_state(seed, step);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 24; ++i)
    s.tensors.push_back({"big." + std::to_string(i), test::random_f32(rng, {256, 256})});
  return s;
}

TEST(CheckpointCrash, KillDuringFaultPauseKeepsThePreviousCheckpoint) {
  TempDir dir;
  const CheckpointState previous = test::synthetic_state(1, 100);
  write_checkpoint(checkpoint_path(dir.path(), 100), previous);

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setenv(checkpoint_layout::kFaultPauseEnv, "60", 1);
    try {
      write_checkpoint(checkpoint_path(dir.path(), 200), test::synthetic_state(2, 200));
    } catch (...) {
    }
    _exit(0);
  }
  test::ChildGuard guard(child);
  // Wait for the temporary file, then give the writer time to reach the pause (it writes a few
  // kilobytes; the pause lasts a minute).
  const fs::path tmp =
      fs::path(dir.path()) / "checkpoints" / (".step_200.h5.tmp-" + std::to_string(child));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(tmp) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(tmp)) << "the child never started writing";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill_and_reap(guard);

  EXPECT_TRUE(fs::exists(tmp));  // the half file exists, but only under its temporary name
  EXPECT_FALSE(fs::exists(checkpoint_path(dir.path(), 200)));
  EXPECT_FALSE(verify_checkpoint(tmp.string()).ok);
  const auto latest = latest_checkpoint(dir.path());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 100);
  const CheckpointState back = read_checkpoint(latest->path, true);
  EXPECT_EQ(back.step, 100);
  ASSERT_EQ(back.tensors.size(), previous.tensors.size());
  for (size_t i = 0; i < back.tensors.size(); ++i)
    EXPECT_EQ(back.tensors[i].tensor.nbytes() == 0 ||
                  std::memcmp(back.tensors[i].tensor.raw(), previous.tensors[i].tensor.raw(),
                              back.tensors[i].tensor.nbytes()) == 0,
              true)
        << back.tensors[i].name;
  // retention clears the dead writer's temporary
  prune_checkpoints(dir.path(), 5);
  EXPECT_FALSE(fs::exists(tmp));
}

TEST(CheckpointCrash, KillAtRandomMomentsNeverLeavesAHalfFinalFile) {
  TempDir dir;
  write_checkpoint(checkpoint_path(dir.path(), 0), big_state(0, 0));
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> delay_ms(5, 120);
  for (int round = 0; round < 6; ++round) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        for (int64_t step = 1;; ++step) {
          const int64_t s = round * 1000 + step;
          write_checkpoint(checkpoint_path(dir.path(), s), big_state(s, s));
        }
      } catch (...) {
      }
      _exit(0);
    }
    test::ChildGuard guard(child);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill_and_reap(guard);
    for (const CheckpointFile& f : list_checkpoints(dir.path())) {
      const CheckpointVerification v = verify_checkpoint(f.path);
      EXPECT_TRUE(v.ok) << f.path << ": " << v.message;
    }
    prune_checkpoints(dir.path(), 2);
  }
  const auto latest = latest_checkpoint(dir.path());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(read_checkpoint(latest->path).step, latest->step);
}

}  // namespace
}  // namespace kasmina::io
