// Write failures through the binary: a full disk (a small tmpfs as --out, skipped where it cannot
// be mounted) and a file-size limit (RLIMIT_FSIZE: "file too large") give one line naming the
// file and what failed, exit 1, no crash, the earlier verified checkpoints intact and no half or
// temporary file left; an --out that cannot be created or written is refused (exit 2) before the
// data is loaded.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "core/error.hpp"
#include "io/checkpoint_files.hpp"
#include "io/telemetry_reader.hpp"
#include "io/tensorboard/record_file.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;  // NOLINT: the binary and the source tree

// A tmpfs of `size` mounted at `dir` for the scope; mounted() is false where that is impossible.
class SmallFilesystem {
 public:
  SmallFilesystem(const std::string& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    const std::string options = "size=" + size;
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0)
      mounted_ = true;
    else
      error_ = std::strerror(errno);
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// Skips the test where `fs` (a SmallFilesystem) could not be mounted.
#define REQUIRE_MOUNTED(fs) \
  if (!(fs).mounted())      \
  GTEST_SKIP() << "cannot mount a tmpfs here (needs root and mount permission): " << (fs).error()

// Files under `dir` whose names start with '.' (temporaries, a lock left behind).
std::vector<std::string> hidden_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string()[0] == '.') out.push_back(e.path().string());
  return out;
}

// What a failed write must leave: one error line naming `file` (or, when `or_prefix` is not
// empty, a file whose path starts with it) and `what`, exit 1, the checkpoint of step `kept`
// verified and the newest (none when kept < 0), no temporary file, readable telemetry holding at
// least one epoch.
void expect_clean_failure(int code, const std::string& log, const std::string& run,
                          const std::string& file, const std::string& what, int64_t kept,
                          const std::string& or_prefix = "") {
  EXPECT_EQ(code, 1) << log;  // not 139 (a crash at exit), not 153 (SIGXFSZ)
  const auto errors = lines_with(log, "error:");
  ASSERT_EQ(errors.size(), 1u) << log;
  const std::string head = "kasmina: error: cannot write ", tail = ": " + what;
  const std::string& e = errors[0];
  const bool other = !or_prefix.empty() && e.starts_with(head + or_prefix) && e.ends_with(tail);
  if (!other) EXPECT_EQ(e, head + file + tail) << log;
  EXPECT_EQ(log.find("HDF5"), std::string::npos) << log;
  const auto latest = latest_checkpoint(run);
  if (kept < 0) {
    EXPECT_TRUE(list_checkpoints(run).empty());
  } else {
    ASSERT_TRUE(latest.has_value()) << "the earlier checkpoint is gone";
    EXPECT_EQ(latest->step, kept);
    EXPECT_EQ(list_checkpoints(run).back().step, kept) << "a half checkpoint under a final name";
  }
  EXPECT_EQ(hidden_files(run), std::vector<std::string>{});
  EXPECT_GE(read_telemetry(run + "/telemetry.h5").epochs.size(), 1u);
}

TEST(WriteFailures, FullDiskKeepsTheEarlierCheckpoints) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string mnt = dir.file("mnt");
  // Room for the config, the telemetry and one checkpoint (about 0.7 MB), not for a second.
  SmallFilesystem small(mnt, "1100k");
  REQUIRE_MOUNTED(small);
  const std::string run = mnt + "/run";
  const int code = train_seeds(run, 20, dir.file("log"));
  // The second checkpoint's writer (a thread of its own) or the TensorBoard event file's next
  // flush (the training thread) meets the full disk first, as timing has it; either ends the run
  // with the first checkpoint kept.
  expect_clean_failure(code, slurp(dir.file("log")), run, run + "/checkpoints/step_62.h5",
                       "no space left on device", 31, run + "/tensorboard/events.out.tfevents.");
}

// The TensorBoard event file on a full disk fails as the run's other files do (an IoError
// naming the file and what failed, so the run ends with "error: cannot write ...", not with an
// internal error): which of a run's writers meets the full disk first depends on timing.
TEST(WriteFailures, AFullDiskStopsTheEventFileWithAnIoError) {
  test::TempDir dir;
  const std::string mnt = dir.file("mnt");
  SmallFilesystem small(mnt, "64k");
  REQUIRE_MOUNTED(small);
  const std::string path = mnt + "/events";
  tb::RecordFile f(path);
  f.append(std::string(256 * 1024, 'x'));
  try {
    f.flush();
    FAIL() << "256 KB were written to a 64 KB filesystem";
  } catch (const IoError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write " + path + ": no space left on device");
  }
}

TEST(WriteFailures, FileSizeLimitIsReportedLikeAFullDisk) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(train_seeds(run, 1, dir.file("log")), 0) << slurp(dir.file("log"));
  // Resumed under a limit of 300 KB per file: the telemetry (about 0.1 MB) fits, the next
  // checkpoint (about 0.7 MB) does not. SIGXFSZ keeps its default action (it would kill).
  const pid_t pid =
      spawn({"train", "--resume", run, "--set", "train.epochs=3"}, dir.file("resume"), {}, [] {
        const rlimit limit{300 * 1024, 300 * 1024};
        ::setrlimit(RLIMIT_FSIZE, &limit);
      });
  const int code = wait_exit(pid);
  expect_clean_failure(code, slurp(dir.file("resume")), run, run + "/checkpoints/step_62.h5",
                       "file too large", 31);
}

TEST(WriteFailures, TelemetryThatOutgrowsTheLimitKeepsItsLastFlush) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  // No checkpoints, a telemetry row every step: the file passes 150 KB after a few epochs.
  const pid_t pid = spawn(
      {"train", seeds_config(), "--set", "train.epochs=40", "--set", "telemetry.every_steps=1",
       "--set", "checkpoint.every_epochs=0", "--set", "checkpoint.at_end=false", "--out", run},
      dir.file("log"), {}, [] {
        const rlimit limit{150 * 1024, 150 * 1024};
        ::setrlimit(RLIMIT_FSIZE, &limit);
      });
  const int code = wait_exit(pid);
  expect_clean_failure(code, slurp(dir.file("log")), run, run + "/telemetry.h5", "file too large",
                       -1);
  EXPECT_LE(fs::file_size(run + "/telemetry.h5"), 150u * 1024);
}

// `--out target` with Fashion-MNIST from a directory that does not exist: refused for --out
// (naming it), so the directory was checked before the data was loaded.
void expect_out_refused(const std::string& target, const std::string& what) {
  test::TempDir dir;
  const int code = run_cli({"train", source_root() + "/configs/fmnist_mlp.yaml", "--data-dir",
                            dir.file("no-data"), "--out", target},
                           dir.file("log"));
  const std::string log = slurp(dir.file("log"));
  EXPECT_EQ(code, 2) << log;
  const auto errors = lines_with(log, "error:");
  ASSERT_EQ(errors.size(), 1u) << log;
  EXPECT_EQ(errors[0], "kasmina: error: --out " + target + ": " + what) << log;
}

TEST(WriteFailures, OutThatCannotBeCreatedIsRefusedBeforeTheData) {
  REQUIRE_BINARY();
  test::TempDir dir;
  // A path whose parent is a regular file, and one under /proc (root ignores permissions).
  std::ofstream(dir.file("plain")) << "x";
  expect_out_refused(dir.file("plain") + "/run", "cannot create directory: not a directory");
  expect_out_refused("/proc/kasmina-run", "cannot create directory: no such file or directory");
  EXPECT_FALSE(fs::exists("/proc/kasmina-run"));
}

// chattr +i on a directory for the scope: it can be neither written nor removed, even by root.
class Immutable {
 public:
  explicit Immutable(const std::string& dir) : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY)) {
    if (fd_ < 0 || ::ioctl(fd_, FS_IOC_GETFLAGS, &flags_) != 0) {
      error_ = std::strerror(errno);
      return;
    }
    int on = flags_ | FS_IMMUTABLE_FL;
    if (::ioctl(fd_, FS_IOC_SETFLAGS, &on) == 0)
      set_ = true;
    else
      error_ = std::strerror(errno);
  }
  ~Immutable() {
    if (set_) ::ioctl(fd_, FS_IOC_SETFLAGS, &flags_);
    if (fd_ >= 0) ::close(fd_);
  }
  Immutable(const Immutable&) = delete;
  Immutable& operator=(const Immutable&) = delete;
  bool set() const { return set_; }
  const std::string& error() const { return error_; }

 private:
  int fd_;
  int flags_ = 0;
  bool set_ = false;
  std::string error_;
};

TEST(WriteFailures, ImmutableOutIsRefusedBeforeTheData) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string out = dir.file("frozen");
  fs::create_directory(out);
  {
    Immutable frozen(out);
    if (!frozen.set()) GTEST_SKIP() << "cannot make a directory immutable here: " << frozen.error();
    expect_out_refused(out,
                       "cannot create the lock file " + out + "/.lock: operation not permitted");
    expect_out_refused(out + "/run", "cannot create directory: operation not permitted");
  }
  EXPECT_TRUE(fs::is_empty(out));
}

}  // namespace
}  // namespace kasmina::io
