// `kasmina inspect runs DIR...` through the binary: two spirals runs whose configurations differ
// in two keys, the table and --json against their summary.json, a run without summary.json, a
// summary with training FLOPs, and bad inputs (exit 2, one line naming the path).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "trained_runs_fixture.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace cli_process;  // NOLINT: the binary and the source tree

std::string spirals_config() {
  return source_root() + "/configs/spirals.yaml";
}

// Two finished spirals runs: `a` as configured (2 epochs), `b` with another learning rate and
// hidden width.
class InspectRuns : public test::TrainedRunsTest<InspectRuns> {
 public:
  static std::string train(const test::TempDir& dir) {
    const std::vector<std::string> base = {"train", spirals_config(), "--set", "train.epochs=2"};
    auto with = [&](std::vector<std::string> extra, const std::string& out) {
      auto v = base;
      v.insert(v.end(), extra.begin(), extra.end());
      v.insert(v.end(), {"--out", out});
      return v;
    };
    return TrainedRunsTest::train(dir, with({}, dir.file("a"))) +
           TrainedRunsTest::train(
               dir, with({"--set", "optimizer.lr=0.003", "--set", "model.layers.0.out=32"},
                         dir.file("b")));
  }

 protected:
  static std::string a() { return file("a"); }
  static std::string b() { return file("b"); }
};

json summary_of(const std::string& run) {
  return json::parse(slurp(run + "/summary.json"));
}

TEST_F(InspectRuns, JsonHasTheDifferingKeysAndEachRunsFinalMetrics) {
  const auto [rc, out] = kasmina({"inspect", "runs", a(), b(), "--json"});
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out);
  EXPECT_EQ(j["differing_keys"], json({"model.layers.0.out", "optimizer.lr"}));
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][0]["config"]["optimizer.lr"], 0.01);
  EXPECT_EQ(j["runs"][1]["config"]["optimizer.lr"], 0.003);
  EXPECT_EQ(j["runs"][0]["config"]["model.layers.0.out"], 64);
  EXPECT_EQ(j["runs"][1]["config"]["model.layers.0.out"], 32);
  for (size_t i = 0; i < 2; ++i) {
    const json& r = j["runs"][i];
    const json s = summary_of(i == 0 ? a() : b());
    EXPECT_EQ(r["dir"], i == 0 ? a() : b());
    EXPECT_EQ(r["status"], "finished");
    EXPECT_EQ(r["config_name"], "spirals");
    EXPECT_EQ(r["metrics"]["test_accuracy"], s["test_accuracy"]);
    EXPECT_EQ(r["metrics"]["test_loss"], s["test_loss"]);
    EXPECT_EQ(r["metrics"]["parameters"], s["parameters"]);
    EXPECT_EQ(r["metrics"]["parameters_added"], 0);
    EXPECT_EQ(r["metrics"]["train_seconds"], s["train_seconds"]);
    EXPECT_EQ(r["metrics"]["train_flops"], s["train_flops"]);
    EXPECT_GT(r["metrics"]["train_flops"].get<double>(), 0.0);
  }
  // 2-64-64-2 and 2-32-64-2 MLPs.
  EXPECT_EQ(j["runs"][0]["metrics"]["parameters"], 64 * 3 + 65 * 64 + 65 * 2);
  EXPECT_EQ(j["runs"][1]["metrics"]["parameters"], 32 * 3 + 33 * 64 + 65 * 2);
}

TEST_F(InspectRuns, TableShowsTheKeysThatDifferAndTheMetrics) {
  const auto [rc, out] = kasmina({"inspect", "runs", a(), b()});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("[1] " + a() + "  (spirals, finished)"), std::string::npos) << out;
  EXPECT_NE(out.find("[2] " + b()), std::string::npos) << out;
  EXPECT_NE(out.find("configuration (keys that differ)"), std::string::npos) << out;
  for (const char* row : {"optimizer.lr", "model.layers.0.out", "test accuracy", "test loss",
                          "grown parameters", "training time (s)", "training FLOPs"})
    EXPECT_NE(out.find(row), std::string::npos) << row << "\n" << out;
  // Keys the runs share are not listed.
  EXPECT_EQ(out.find("train.epochs"), std::string::npos) << out;
  EXPECT_EQ(out.find("data.dataset"), std::string::npos) << out;
  char acc[32];
  std::snprintf(acc, sizeof acc, "%.4f", summary_of(b())["test_accuracy"].get<double>());
  EXPECT_NE(out.find(acc), std::string::npos) << acc << "\n" << out;
  // One run: no key can differ.
  const auto [rc1, one] = kasmina({"inspect", "runs", a()});
  ASSERT_EQ(rc1, 0) << one;
  EXPECT_NE(one.find("configuration: one run"), std::string::npos) << one;
}

TEST_F(InspectRuns, IncompleteRunAndTrainingFlops) {
  // A run directory whose summary.json is missing (still running) and one whose summary has
  // train_flops (written by builds that count them).
  const std::string running = file("running"), counted = file("counted");
  fs::create_directories(running);
  fs::copy_file(a() + "/config.yaml", running + "/config.yaml");
  fs::create_directories(counted);
  fs::copy_file(b() + "/config.yaml", counted + "/config.yaml");
  json s = summary_of(b());
  s["train_flops"] = 123456789012.0;
  std::ofstream(counted + "/summary.json") << s.dump();
  const auto [rc, out] = kasmina({"inspect", "runs", running, counted, "--json"});
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out);
  EXPECT_EQ(j["runs"][0]["status"], "incomplete");
  EXPECT_TRUE(j["runs"][0]["metrics"]["test_accuracy"].is_null());
  EXPECT_EQ(j["runs"][1]["metrics"]["train_flops"], 123456789012.0);
  const auto [rc2, text] = kasmina({"inspect", "runs", running, counted});
  ASSERT_EQ(rc2, 0) << text;
  EXPECT_NE(text.find("1.235e+11"), std::string::npos) << text;
  EXPECT_NE(text.find("(spirals, incomplete)"), std::string::npos) << text;
}

TEST_F(InspectRuns, BadInputsExitTwoWithOneLine) {
  expect_one_line_error(kasmina({"inspect", "runs", a(), file("missing")}), file("missing"),
                        "no such directory");
  const std::string empty = file("empty");
  fs::create_directories(empty);
  expect_one_line_error(kasmina({"inspect", "runs", empty}), empty,
                        "not a run directory (no config.yaml)");
  expect_one_line_error(kasmina({"inspect", "runs", a() + "/summary.json"}), a() + "/summary.json",
                        "not a directory");

  const std::string broken = file("broken");
  fs::create_directories(broken);
  fs::copy_file(a() + "/config.yaml", broken + "/config.yaml");
  std::ofstream(broken + "/summary.json") << "{\"test_accuracy\": ";
  expect_one_line_error(kasmina({"inspect", "runs", broken}), broken + "/summary.json",
                        "not valid JSON");
  std::ofstream(broken + "/summary.json") << "{\"test_accuracy\": \"high\"}";
  expect_one_line_error(kasmina({"inspect", "runs", broken}), broken + "/summary.json",
                        "'test_accuracy' is not a number");

  const std::string bad_yaml = file("bad_yaml");
  fs::create_directories(bad_yaml);
  std::ofstream(bad_yaml + "/config.yaml") << "optimizer:\n  lr: [\n";
  expect_one_line_error(kasmina({"inspect", "runs", bad_yaml}), bad_yaml + "/config.yaml",
                        "invalid YAML");
}

}  // namespace
}  // namespace kasmina::io
