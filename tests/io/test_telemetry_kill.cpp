// telemetry.h5 after `kill -9` at random moments of a run (20 rounds, through the binary): the
// file always opens with `kasmina inspect telemetry` (and with h5py where it is installed) and
// holds the epochs up to the last flush: the run flushes right after it prints an epoch, so the
// file holds every epoch printed but possibly the last. Telemetry of every step and no
// checkpoints make the run flush (and rewrite chunks) as often as possible.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "cli_process.hpp"
#include "io/telemetry_reader.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;  // NOLINT: the binary and the source tree

constexpr const char* kPython = "/usr/bin/python3";

bool have_h5py() {
  const std::string cmd = std::string(kPython) + " -c 'import h5py' 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

// h5py opens the file and reads every epoch row; prints the count to `out`.
int h5py_epochs(const std::string& path, const std::string& out) {
  const std::string cmd = std::string(kPython) +
                          " -c 'import h5py, sys; f = h5py.File(sys.argv[1], \"r\"); "
                          "print(len(f[\"epochs/epoch\"][:]))' '" +
                          path + "' > '" + out + "' 2>&1";
  return std::system(cmd.c_str());
}

TEST(TelemetryKill, ReadableAfterKillAtRandomMoments) {
  REQUIRE_BINARY();
  const bool python = have_h5py();
  if (!python) std::printf("python3-h5py not installed: the h5py check is skipped\n");
  std::mt19937_64 rng(20240607);
  std::uniform_int_distribution<int> delay_ms(20, 700);
  int with_rows = 0;
  for (int round = 0; round < 20; ++round) {
    test::TempDir dir;
    const std::string run = dir.file("run"), log = dir.file("log");
    test::ChildGuard child(
        spawn({"train", seeds_config(), "--set", "train.epochs=100000", "--set",
               "telemetry.every_steps=1", "--set", "checkpoint.every_epochs=0", "--out", run},
              log));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    const int status = child.kill_and_reap();
    ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended by itself: " << slurp(log);
    const std::string printed = slurp(log);
    const std::string path = run + "/telemetry.h5";
    const auto epochs_printed = lines_with(printed, "epoch ").size();
    if (!fs::exists(path)) {
      // Killed before the run stored its first (empty) file.
      EXPECT_EQ(epochs_printed, 0u) << "round " << round << ": " << printed;
      continue;
    }
    EXPECT_EQ(run_cli({"inspect", "telemetry", path}, dir.file("inspect")), 0)
        << "round " << round << ": " << slurp(dir.file("inspect"));
    TelemetryData data;
    try {
      data = read_telemetry(path);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "round " << round << ": " << e.what();
      continue;
    }
    EXPECT_LE(data.epochs.size(), epochs_printed) << "round " << round;
    EXPECT_GE(data.epochs.size() + 1, epochs_printed) << "round " << round;
    for (size_t i = 0; i < data.epochs.size(); ++i)
      EXPECT_EQ(data.epochs[i].epoch, static_cast<int64_t>(i) + 1) << "round " << round;
    with_rows += data.epochs.empty() ? 0 : 1;
    if (python) {
      if (h5py_epochs(path, dir.file("h5py")) == 0)
        EXPECT_EQ(slurp(dir.file("h5py")), std::to_string(data.epochs.size()) + "\n");
      else
        ADD_FAILURE() << "round " << round << ": h5py: " << slurp(dir.file("h5py"));
    }
  }
  EXPECT_GE(with_rows, 10) << "most kills should come after some epochs were flushed";
}

}  // namespace
}  // namespace kasmina::io
