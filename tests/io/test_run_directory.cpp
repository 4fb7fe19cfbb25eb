// Run-directory ownership through the `kasmina` binary: the lock a run holds on its directory
// (a second run or a resume into a live run is refused naming the holder, a stale lock is taken
// over), a refused resume touches nothing, and a failing run keeps what it made valuable.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_process.hpp"
#include "io/checkpoint_files.hpp"
#include "io/telemetry_reader.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;  // NOLINT: the binary and the source tree

// A long run into `run`, waited for until its first checkpoint is in place.
pid_t start_long_run(const std::string& run, const std::string& log) {
  const pid_t pid =
      spawn({"train", seeds_config(), "--set", "train.epochs=100000", "--out", run}, log);
  EXPECT_TRUE(wait_for([&] { return !list_checkpoints(run).empty(); })) << slurp(log);
  return pid;
}

TEST(RunDirectory, SecondRunIntoALockedDirectoryIsRefusedNamingTheHolder) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  fs::create_directory(run);
  // This process holds the lock, as a live run would.
  const std::string lock = run + "/.lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  const std::string holder = "4242 otherhost\n";
  ASSERT_EQ(::write(fd, holder.data(), holder.size()), static_cast<ssize_t>(holder.size()));
  const auto before = snapshot(run);
  EXPECT_EQ(
      run_cli({"train", seeds_config(), "--set", "train.epochs=1", "--out", run}, dir.file("log")),
      2);
  const std::string log = slurp(dir.file("log"));
  EXPECT_NE(log.find("in use by pid 4242 on host otherhost"), std::string::npos) << log;
  // The loser removed nothing: the directory and the holder's lock file are as they were.
  EXPECT_EQ(snapshot(run), before);
  ::close(fd);
}

TEST(RunDirectory, StaleLockIsTakenOver) {
  REQUIRE_BINARY();
  test::TempDir dir;
  // A new run into a directory that holds only a lock file nobody holds.
  const std::string run = dir.file("run");
  fs::create_directory(run);
  std::ofstream(run + "/.lock") << "999999999 deadhost\n";
  ASSERT_EQ(
      run_cli({"train", seeds_config(), "--set", "train.epochs=1", "--out", run}, dir.file("log")),
      0)
      << slurp(dir.file("log"));
  EXPECT_NE(slurp(dir.file("log"))
                .find("taking over the stale lock of pid 999999999 on host "
                      "deadhost"),
            std::string::npos)
      << slurp(dir.file("log"));
  EXPECT_FALSE(fs::exists(run + "/.lock"));  // released at the end of the run

  // A resume into a run whose process died holding the lock.
  std::ofstream(run + "/.lock") << "999999998 deadhost\n";
  ASSERT_EQ(run_cli({"train", "--resume", run, "--set", "train.epochs=2"}, dir.file("resume")), 0)
      << slurp(dir.file("resume"));
  EXPECT_NE(slurp(dir.file("resume")).find("stale lock of pid 999999998"), std::string::npos)
      << slurp(dir.file("resume"));
  EXPECT_EQ(latest_checkpoint(run)->step, 2 * 31);
  EXPECT_FALSE(fs::exists(run + "/.lock"));
}

TEST(RunDirectory, ResumeIntoALiveRunIsRefusedAndTouchesNothing) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  const pid_t pid = start_long_run(run, dir.file("log"));
  test::ChildGuard guard(pid);
  // Stopped, the live run writes nothing while its lock stays held.
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  int stopped = 0;
  ASSERT_EQ(::waitpid(pid, &stopped, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(stopped));
  const auto before = snapshot(run);
  const std::string checkpoint = list_checkpoints(run).front().path;
  for (const std::string& target : {run, checkpoint}) {
    EXPECT_EQ(run_cli({"train", "--resume", target, "--set", "train.epochs=1"}, dir.file("err")),
              2);
    const std::string err = slurp(dir.file("err"));
    EXPECT_NE(err.find("in use by pid " + std::to_string(pid)), std::string::npos) << err;
    EXPECT_EQ(snapshot(run), before) << "a refused resume changed the run directory";
  }
  ::kill(pid, SIGCONT);
  ::kill(pid, SIGINT);
  EXPECT_EQ(exit_code(guard.wait()), 130) << slurp(dir.file("log"));
}

TEST(RunDirectory, RefusedResumeTouchesNothing) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(
      run_cli({"train", seeds_config(), "--set", "train.epochs=1", "--out", run}, dir.file("log")),
      0);
  const auto before = snapshot(run);
  // A change the run state depends on, and a model the checkpoint does not fit.
  EXPECT_EQ(run_cli({"train", "--resume", run, "--set", "optimizer.lr=0.5"}, dir.file("err")), 2)
      << slurp(dir.file("err"));
  EXPECT_EQ(snapshot(run), before);
  EXPECT_EQ(run_cli({"train", "--resume", run, "--set", "model.layers[0].out=48"}, dir.file("err")),
            2)
      << slurp(dir.file("err"));
  EXPECT_EQ(snapshot(run), before);
}

TEST(RunDirectory, TwoRunsStartedTogetherLeaveOneCompleteRun) {
  REQUIRE_BINARY();
  for (int round = 0; round < 5; ++round) {
    test::TempDir dir;
    const std::string run = dir.file("run");
    const std::vector<std::string> args = {"train",          seeds_config(), "--set",
                                           "train.epochs=2", "--out",        run};
    test::ChildGuard a(spawn(args, dir.file("a")));
    test::ChildGuard b(spawn(args, dir.file("b")));
    const int ca = exit_code(a.wait()), cb = exit_code(b.wait());
    // One run completes; the other is refused (the directory is locked, or no longer empty).
    EXPECT_EQ(std::min(ca, cb), 0) << slurp(dir.file("a")) << slurp(dir.file("b"));
    EXPECT_EQ(std::max(ca, cb), 2) << slurp(dir.file("a")) << slurp(dir.file("b"));
    ASSERT_TRUE(fs::exists(run + "/summary.json")) << "the loser removed the winner's run";
    EXPECT_TRUE(fs::exists(run + "/config.yaml"));
    EXPECT_EQ(latest_checkpoint(run)->step, 2 * 31);
  }
}

TEST(RunDirectory, FailingRunKeepsItsCheckpointsAndTelemetry) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  const pid_t pid = start_long_run(run, dir.file("log"));
  test::ChildGuard guard(pid);
  // A directory where the run puts summary.json: the interrupted run writes its checkpoint, then
  // fails renaming the summary into place.
  fs::create_directory(run + "/summary.json");
  ::kill(pid, SIGINT);
  EXPECT_EQ(exit_code(guard.wait()), 1) << slurp(dir.file("log"));
  ASSERT_TRUE(fs::is_directory(run)) << "the failing run removed its directory";
  const auto latest = latest_checkpoint(run);
  ASSERT_TRUE(latest.has_value());
  EXPECT_GE(read_telemetry(run + "/telemetry.h5").epochs.size(), 1u);
  EXPECT_FALSE(fs::exists(run + "/.lock"));
  EXPECT_TRUE(fs::is_empty(run + "/summary.json"));
  EXPECT_NE(
      slurp(dir.file("log")).find("cannot write " + run + "/summary.json: rename: is a directory"),
      std::string::npos)
      << slurp(dir.file("log"));
  // What it kept can be resumed.
  fs::remove(run + "/summary.json");
  ASSERT_EQ(run_cli({"train", "--resume", run, "--set",
                     "train.epochs=" + std::to_string(latest->step / 31 + 1)},
                    dir.file("resume")),
            0)
      << slurp(dir.file("resume"));
}

}  // namespace
}  // namespace kasmina::io
