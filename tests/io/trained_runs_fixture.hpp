// A test suite on run directories trained once for the whole suite through the `kasmina` binary
// (`Suite::train(dir)` returns "" on success, else what went wrong), the binary run with its
// output in a log, and the check that a refused command printed one line naming the path and the
// problem with exit code 2.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli_process.hpp"
#include "io_test_util.hpp"

namespace kasmina::io::test {

template <class Suite>
class TrainedRunsTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (cli_process::bin().empty()) return;
    dir_ = std::make_unique<TempDir>();
    failure_ = Suite::train(*dir_);
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override {
    REQUIRE_BINARY();
    ASSERT_EQ(failure_, "");
  }

  static std::string file(const std::string& name) { return dir_->file(name); }
  // `kasmina ARGS`: the exit code and everything it printed.
  static std::pair<int, std::string> kasmina(const std::vector<std::string>& args) {
    const std::string log = dir_->file("cmd.log");
    const int rc = cli_process::run_cli(args, log);
    return {rc, cli_process::slurp(log)};
  }
  // Trains `args` (a `kasmina train` command line) into a log; "" or the log when it failed.
  static std::string train(const TempDir& dir, const std::vector<std::string>& args) {
    const std::string log = dir.file("train.log");
    return cli_process::run_cli(args, log) == 0 ? "" : cli_process::slurp(log);
  }

  static void expect_one_line_error(const std::pair<int, std::string>& r, const std::string& path,
                                    const std::string& problem) {
    EXPECT_EQ(r.first, 2) << r.second;
    EXPECT_EQ(std::count(r.second.begin(), r.second.end(), '\n'), 1) << r.second;
    EXPECT_NE(r.second.find(path), std::string::npos) << r.second;
    EXPECT_NE(r.second.find(problem), std::string::npos) << r.second;
  }

 private:
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::string failure_;
};

}  // namespace kasmina::io::test
