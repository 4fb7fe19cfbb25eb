// The fixture of the `kasmina train` error tests: a valid config to start from, the binary run
// in a temp dir with `--out <tmp>/run-out`, and the checks every user error shares (exit 2, one
// line `kasmina: error: ...` naming the problem, no crash output, no run directory).
#pragma once
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "run_process.hpp"

namespace kasmina::clitest {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::TempDir;

// Far more than a small run needs, far less than a config or data set that exhausts memory.
inline constexpr unsigned long long kMemoryLimit = 2ull << 30;

// A valid Fashion-MNIST config; line 8 is `lr`, line 10 is `epochs`.
inline const char* const kValidYaml =
    "seed: 1\n"                        // 1
    "model:\n"                         // 2
    "  layers:\n"                      // 3
    "    - {type: linear, out: 16}\n"  // 4
    "    - {type: relu}\n"             // 5
    "    - {type: linear, out: 10}\n"  // 6
    "optimizer:\n"                     // 7
    "  lr: 0.001\n"                    // 8
    "train:\n"                         // 9
    "  epochs: 1\n";                   // 10

inline std::string kasmina_binary() {
  const char* bin = std::getenv("KASMINA_BIN");
  return bin != nullptr ? bin : "";
}

inline fs::path real_data_dir() {
  const char* env = std::getenv("KASMINA_DATA_DIR");
  return env != nullptr && *env != '\0' ? fs::path(env)
                                        : fs::path("/usr/share/datasets/fashion-mnist");
}

class CliErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kasmina_binary().empty()) GTEST_FAIL() << "KASMINA_BIN is not set (run through meson test)";
    ASSERT_TRUE(fs::exists(kasmina_binary())) << kasmina_binary();
  }

  fs::path write_config(const std::string& name, const std::string& text) const {
    const fs::path path = dir_.path() / name;
    std::ofstream(path) << text;
    return path;
  }

  fs::path out_dir() const { return dir_.path() / "run-out"; }

  // Runs `kasmina train CONFIG ARGS... --out <tmp>/run-out` in the temp dir.
  // Runs under an address-space limit, so that a config or data that would exhaust memory
  // fails the test at once instead of the machine.
  ProcessResult train(const fs::path& config, std::vector<std::string> args = {}) const {
    std::vector<std::string> all{"train", config.string()};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back("--out");
    all.push_back(out_dir().string());
    return testing::run_process(kasmina_binary(), all, dir_.path(), {},
                                {.address_space_bytes = kMemoryLimit});
  }

  // Trains `config` and expects exactly the user error "kasmina: error: <config><rest>".
  void expect_error_line(const fs::path& config, const std::string& rest,
                         std::vector<std::string> args = {}) const {
    const ProcessResult r = train(config, std::move(args));
    expect_user_error(r, {});
    EXPECT_EQ(r.err, "kasmina: error: " + config.string() + rest + "\n");
  }

  // The checks every user error shares; `pieces` must all appear in the message.
  void expect_user_error(const ProcessResult& r, const std::vector<std::string>& pieces) const {
    ASSERT_TRUE(r.exited) << "killed by signal " << r.signal << "\nstderr: " << r.err;
    EXPECT_EQ(r.exit_code, 2) << "stderr: " << r.err;
    EXPECT_TRUE(r.err.starts_with("kasmina: error: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "expected one line: " << r.err;
    for (const std::string& piece : pieces) {
      EXPECT_NE(r.err.find(piece), std::string::npos)
          << "stderr: " << r.err << "\nmissing: " << piece;
    }
    for (const char* crash : {"terminate called", "what():", "Aborted", "core dumped",
                              "Segmentation fault", "stack trace", "Backtrace"}) {
      EXPECT_EQ(r.err.find(crash), std::string::npos) << "crash output: " << r.err;
    }
    EXPECT_FALSE(fs::exists(out_dir())) << "the run directory was created";
    EXPECT_FALSE(fs::exists(dir_.path() / "runs")) << "a default run directory was created";
  }

  TempDir dir_;
};

inline std::string replace_line(const std::string& text, int line, const std::string& with) {
  std::string out = text;
  std::size_t begin = 0;
  for (int i = 1; i < line; ++i) begin = out.find('\n', begin) + 1;
  return out.replace(begin, out.find('\n', begin) - begin, with);
}

}  // namespace kasmina::clitest
