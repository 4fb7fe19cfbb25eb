// The runs whose checkpoints the hostile-checkpoint tests edit (copies of them), each trained
// once per test executable.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli_process.hpp"
#include "io_test_util.hpp"

namespace kasmina::io::hostile_runs {

// A one-epoch run (checkpoints/step_31.h5, telemetry.h5), made once for every test.
inline const std::string& base_run() {
  static test::TempDir dir;
  static const std::string run = [] {
    const std::string r = dir.file("run");
    EXPECT_EQ(cli_process::train_seeds(r, 1, dir.file("log")), 0)
        << cli_process::slurp(dir.file("log"));
    return r;
  }();
  return run;
}

// The same run stopped inside its first epoch: checkpoints/step_20.h5 (with the epoch's batch
// order and cursor) is its only checkpoint.
inline const std::string& mid_epoch_run() {
  static test::TempDir dir;
  static const std::string run = [] {
    const std::string r = dir.file("run");
    EXPECT_EQ(cli_process::run_cli(
                  {"train", cli_process::seeds_config(), "--set", "train.epochs=1", "--set",
                   "checkpoint.every_steps=20", "--set", "checkpoint.every_epochs=0", "--out", r},
                  dir.file("log")),
              0)
        << cli_process::slurp(dir.file("log"));
    for (const auto& e : std::filesystem::directory_iterator(r + "/checkpoints"))
      if (e.path().filename() != "step_20.h5") std::filesystem::remove(e.path());
    return r;
  }();
  return run;
}

}  // namespace kasmina::io::hostile_runs
