// `kasmina eval` through the binary on a grown spirals run (configs/spirals_grow.yaml: seeds
// fossilized at the end): the last checkpoint reproduces summary.json's final test
// and validation metrics exactly, an earlier checkpoint its epoch's, the per-class accuracy and
// confusion matrix agree with the accuracy, and bad inputs exit 2 with one line.
#include <gtest/gtest.h>

#include <filesystem>
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

// A grown run and a run without a validation split.
class EvalCli : public test::TrainedRunsTest<EvalCli> {
 public:
  static std::string train(const test::TempDir& dir) {
    const std::string a = TrainedRunsTest::train(
        dir, {"train", source_root() + "/configs/spirals_grow.yaml", "--out", dir.file("grow")});
    return a + TrainedRunsTest::train(dir, {"train", source_root() + "/configs/spirals.yaml",
                                            "--set", "train.epochs=1", "--out", dir.file("plain")});
  }

 protected:
  static std::string run() { return file("grow"); }
  static std::string plain() { return file("plain"); }
  // `kasmina eval ARGS --json FILE`: the report written to FILE.
  static json eval_json(std::vector<std::string> args) {
    args.insert(args.begin(), "eval");
    args.insert(args.end(), {"--json", file("report.json")});
    const auto [rc, out] = kasmina(args);
    EXPECT_EQ(rc, 0) << out;
    return json::parse(slurp(file("report.json")));
  }
};

TEST_F(EvalCli, LastCheckpointReproducesTheFinalTestMetricsExactly) {
  const json s = json::parse(slurp(run() + "/summary.json"));
  // The run ends with grown seeds blended in: the evaluation needs their stage and alpha.
  ASSERT_GT(s["parameters_added"].get<int64_t>(), 0);
  const json r = eval_json({run()});
  EXPECT_EQ(r["checkpoint"], run() + "/checkpoints/step_930.h5");
  EXPECT_EQ(r["step"], 930);
  EXPECT_EQ(r["split"], "test");
  EXPECT_EQ(r["samples"], 1000);
  EXPECT_EQ(r["loss"].get<double>(), s["test_loss"].get<double>());
  EXPECT_EQ(r["accuracy"].get<double>(), s["test_accuracy"].get<double>());

  // Per class and the confusion matrix count the same predictions as the accuracy.
  ASSERT_EQ(r["confusion_matrix"].size(), 2u);
  int64_t total = 0, diagonal = 0;
  for (size_t t = 0; t < 2; ++t) {
    int64_t row = 0;
    for (size_t p = 0; p < 2; ++p) row += r["confusion_matrix"][t][p].get<int64_t>();
    const json& c = r["classes"][t];
    EXPECT_EQ(c["class"], t);
    EXPECT_EQ(c["name"], t == 0 ? "arm 0" : "arm 1");
    EXPECT_EQ(c["samples"], row);
    EXPECT_EQ(c["correct"], r["confusion_matrix"][t][t]);
    EXPECT_DOUBLE_EQ(c["accuracy"].get<double>(),
                     static_cast<double>(c["correct"].get<int64_t>()) / static_cast<double>(row));
    total += row;
    diagonal += c["correct"].get<int64_t>();
  }
  EXPECT_EQ(total, 1000);
  EXPECT_EQ(static_cast<double>(diagonal) / 1000.0, r["accuracy"].get<double>());

  // The text report beside the JSON file, and --json alone: JSON on stdout.
  const auto [rc, text] = kasmina({"eval", run()});
  ASSERT_EQ(rc, 0) << text;
  char acc[64];
  std::snprintf(acc, sizeof acc, "accuracy    %.4f (%lld of 1000)",
                s["test_accuracy"].get<double>(), static_cast<long long>(diagonal));
  EXPECT_NE(text.find(acc), std::string::npos) << acc << "\n" << text;
  EXPECT_NE(text.find("confusion matrix (rows: true class, columns: predicted class)"),
            std::string::npos);
  const auto [rc2, js] = kasmina({"eval", run(), "--json"});
  ASSERT_EQ(rc2, 0) << js;
  EXPECT_EQ(json::parse(js)["loss"], r["loss"]);
}

TEST_F(EvalCli, EarlierCheckpointAndValidationSplitReproduceTheirEpochs) {
  const json s = json::parse(slurp(run() + "/summary.json"));
  // 2000 training samples / batch 64 = 31 steps an epoch: step 899 ends epoch 29.
  const json epoch29 = s["history"][28];
  ASSERT_EQ(epoch29["epoch"], 29);
  const json r = eval_json({run() + "/checkpoints/step_899.h5"});
  EXPECT_EQ(r["epoch"], 29);
  EXPECT_EQ(r["loss"].get<double>(), epoch29["test"]["loss"].get<double>());
  EXPECT_EQ(r["accuracy"].get<double>(), epoch29["test"]["accuracy"].get<double>());

  const json v = eval_json({run(), "--split", "validation"});
  EXPECT_EQ(v["samples"], 400);
  EXPECT_EQ(v["loss"].get<double>(), s["validation_loss"].get<double>());
  EXPECT_EQ(v["accuracy"].get<double>(), s["validation_accuracy"].get<double>());
}

TEST_F(EvalCli, BadInputsExitTwoWithOneLine) {
  expect_one_line_error(kasmina({"eval", file("missing")}), file("missing"),
                        "no such file or directory");
  const std::string empty = file("empty");
  fs::create_directories(empty);
  expect_one_line_error(kasmina({"eval", empty}), empty, "no checkpoints in");
  expect_one_line_error(kasmina({"eval", run() + "/summary.json"}), run() + "/summary.json",
                        "not an HDF5 file");
  expect_one_line_error(kasmina({"eval", plain(), "--split", "validation"}), plain(),
                        "the run has no validation split");
  const std::string unwritable = file("no/such/dir/report.json");
  expect_one_line_error(kasmina({"eval", run(), "--json", unwritable}), unwritable, "cannot write");
  EXPECT_FALSE(fs::exists(file("no")));
  const auto bad_split = kasmina({"eval", run(), "--split", "train"});
  EXPECT_EQ(bad_split.first, 2) << bad_split.second;
  EXPECT_NE(bad_split.second.find("--split"), std::string::npos) << bad_split.second;
}

}  // namespace
}  // namespace kasmina::io
