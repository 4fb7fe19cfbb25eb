// TensorBoard event files of real runs through the `kasmina` binary: written by default with the
// documented tags at the trainer's steps, none with telemetry.tensorboard false, and a resumed
// run's new file that restarts the curves after its checkpoint. (What TensorBoard's own reader
// makes of them: tensorboard_readback.py.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "io_test_util.hpp"
#include "tb_records.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;  // NOLINT: the binary and the source tree

std::vector<std::string> event_files(const std::string& run) {
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(run + "/tensorboard"))
    paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

// The steps of each tag in the records.
std::map<std::string, std::vector<int64_t>> steps_by_tag(const std::vector<std::string>& records) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const std::string& r : records) {
    const std::string tag = test::event_tag(r);
    if (!tag.empty()) out[tag].push_back(test::event_step(r));
  }
  return out;
}

std::vector<std::string> train_args(const std::string& out, int epochs) {
  return {"train", seeds_config(), "--out", out, "--set", "train.epochs=" + std::to_string(epochs)};
}

TEST(TensorBoardCli, RunWritesOneEventFileWithTheDocumentedTags) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(run_cli(train_args(run, 3), dir.file("log")), 0) << slurp(dir.file("log"));
  const auto files = event_files(run);
  ASSERT_EQ(files.size(), 1u);
  const auto records = test::read_records(files[0]);
  ASSERT_GT(records.size(), 100u);
  EXPECT_EQ(test::proto_field(records[0], 3).bytes, "brain.Event:2");  // file_version
  EXPECT_EQ(test::proto_field(records[1], 7).bytes, "\x08\x01");       // START, step 0
  EXPECT_EQ(test::event_step(records[1]), 0);
  const auto tags = steps_by_tag(records);
  // 31 steps an epoch; telemetry.every_steps 50; the kasmina layers read every 10 steps.
  EXPECT_EQ(tags.at("config"), std::vector<int64_t>{0});
  EXPECT_EQ(tags.at("steps/loss"), (std::vector<int64_t>{50}));
  EXPECT_EQ(tags.at("steps/lr"), (std::vector<int64_t>{50}));
  EXPECT_EQ(tags.at("steps/train_flops"), (std::vector<int64_t>{50}));
  EXPECT_EQ(tags.at("epochs/test_accuracy"), (std::vector<int64_t>{31, 62, 93}));
  EXPECT_EQ(tags.at("epochs/validation_loss"), (std::vector<int64_t>{31, 62, 93}));
  const std::vector<int64_t> reads = {10, 20, 30, 40, 50, 60, 70, 80, 90};
  for (const char* t :
       {"kasmina0/alpha", "kasmina0/health", "kasmina1/alpha", "kasmina0/stage/dormant",
        "kasmina1/stage/rolled_back", "kasmina0/parameters_added"})
    EXPECT_EQ(tags.at(t), reads) << t;
  // The schedule germinates two seeds of layer 0 at step 60 (the events of one step: one text).
  ASSERT_TRUE(tags.contains("events/kasmina0"));
  EXPECT_EQ(tags.at("events/kasmina0").front(), 61);
  const auto& ev = tags.at("events/kasmina0");
  EXPECT_EQ(std::set<int64_t>(ev.begin(), ev.end()).size(), ev.size());
}

TEST(TensorBoardCli, OffWritesNoEventFiles) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  auto args = train_args(run, 1);
  args.insert(args.end(), {"--set", "telemetry.tensorboard=false"});
  ASSERT_EQ(run_cli(args, dir.file("log")), 0) << slurp(dir.file("log"));
  EXPECT_FALSE(fs::exists(run + "/tensorboard"));
  EXPECT_TRUE(fs::exists(run + "/telemetry.h5"));
  EXPECT_NE(slurp(run + "/config.yaml").find("tensorboard: false"), std::string::npos);
}

TEST(TensorBoardCli, ResumedRunRestartsTheCurvesAfterItsCheckpoint) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  auto args = train_args(run, 4);
  args.insert(args.end(), {"--set", "checkpoint.every_steps=35", "--set", "checkpoint.keep=10"});
  ASSERT_EQ(run_cli(args, dir.file("log")), 0) << slurp(dir.file("log"));
  const std::string first = event_files(run).at(0);
  const auto before = test::read_bytes(first);
  // Continue from step 70: the first run's records after it are superseded, not rewritten.
  ASSERT_EQ(run_cli({"train", "--resume", run + "/checkpoints/step_70.h5"}, dir.file("resume.log")),
            0)
      << slurp(dir.file("resume.log"));
  const auto files = event_files(run);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], first);
  EXPECT_EQ(test::read_bytes(first), before);
  const auto records = test::read_records(files[1]);
  ASSERT_GT(records.size(), 2u);
  EXPECT_EQ(test::proto_field(records[0], 3).bytes, "brain.Event:2");
  EXPECT_EQ(test::event_step(records[1]), 71);
  EXPECT_EQ(test::proto_field(records[1], 7).bytes, "\x08\x01");  // SessionLog START
  for (size_t i = 2; i < records.size(); ++i) EXPECT_GT(test::event_step(records[i]), 70) << i;
  const auto tags = steps_by_tag(records);
  EXPECT_EQ(tags.at("config"), std::vector<int64_t>{71});
  EXPECT_EQ(tags.at("epochs/test_loss"), (std::vector<int64_t>{93, 124}));
  EXPECT_EQ(tags.at("steps/loss"), (std::vector<int64_t>{100}));
  EXPECT_EQ(tags.at("kasmina0/alpha").front(), 80);
}

}  // namespace
}  // namespace kasmina::io
