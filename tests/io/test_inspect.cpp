// `kasmina inspect`: the summaries (in-process, through the registered CLI11 command) and the
// real binary (KASMINA_BIN): output, --json, --verify and exit codes for bad files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/inspect.hpp"
#include "io/checkpoint.hpp"
#include "io/checkpoint_files.hpp"
#include "io/checksum.hpp"
#include "io/hdf5_handle.hpp"
#include "io/hdf5_io.hpp"
#include "io/telemetry_writer.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

using nlohmann::json;
using test::TempDir;

// Runs `kasmina <args>` in-process through the inspect command; returns stdout.
std::string run_inspect(std::vector<std::string> args) {
  CLI::App app{"test"};
  int exit_code = -1;
  cli::add_inspect_command(app, exit_code);
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  testing::internal::CaptureStdout();
  try {
    app.parse(args);
  } catch (...) {
    testing::internal::GetCapturedStdout();
    throw;
  }
  EXPECT_EQ(exit_code, 0);
  return testing::internal::GetCapturedStdout();
}

struct BinaryResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs the built binary; nullopt when KASMINA_BIN is not set.
std::optional<BinaryResult> run_binary(const std::string& args, const TempDir& dir) {
  const char* bin = std::getenv("KASMINA_BIN");
  if (!bin) return std::nullopt;
  const std::string err_file = dir.file("stderr.txt");
  const std::string cmd = std::string(bin) + " " + args + " 2>" + err_file;
  FILE* p = popen(cmd.c_str(), "r");
  BinaryResult r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const auto err = test::read_bytes(err_file);
  r.err.assign(err.begin(), err.end());
  return r;
}

std::map<std::string, int64_t> stage_histogram(const Tensor& stage) {
  std::map<std::string, int64_t> h;
  const auto* p = static_cast<const uint8_t*>(stage.raw());
  const char* names[] = {"DORMANT",       "GERMINATED", "TRAINING",    "GRAFTING",
                         "STABILIZATION", "EVALUATING", "FINE_TUNING", "FOSSILIZED",
                         "CULLED",        "CANCELLED",  "ROLLED_BACK"};
  for (int64_t i = 0; i < stage.numel(); ++i) ++h[names[p[i]]];
  return h;
}

TEST(Inspect, CheckpointSummaryTextAndJson) {
  TempDir dir;
  const CheckpointState state = test::synthetic_state(31, 4200);
  const std::string path = checkpoint_path(dir.path(), 4200);
  write_checkpoint(path, state);

  const json j = json::parse(run_inspect({"inspect", "checkpoint", path, "--json", "--verify"}));
  EXPECT_EQ(j["format"], "kasmina-checkpoint");
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["config_name"], "synthetic");
  EXPECT_EQ(j["step"], 4200);
  EXPECT_EQ(j["epoch"], 42);
  EXPECT_EQ(j["verified"], true);
  const json& groups = j["tensor_groups"];
  ASSERT_GE(groups.size(), 4u);
  EXPECT_EQ(groups[0]["name"], "model.0");
  EXPECT_EQ(groups[0]["elements"], 16 * 8 + 16);
  EXPECT_EQ(groups[0]["tensors"][0]["shape"], json::array({16, 8}));
  // Each tensor's crc32 is that of its bytes (the dataset checksum), so two checkpoints can be
  // compared tensor by tensor.
  const Tensor& w0 = *state.find_tensor(groups[0]["tensors"][0]["name"].get<std::string>());
  EXPECT_EQ(groups[0]["tensors"][0]["crc32"].get<uint32_t>(),
            crc32_update(0, w0.raw(), w0.nbytes()));
  EXPECT_NE(groups[0]["tensors"][0]["crc32"], groups[1]["tensors"][0]["crc32"]);
  EXPECT_EQ(groups[1]["name"], "model.2");
  EXPECT_EQ(groups[1]["elements"], 4 * 16 + 4);
  int64_t total = 0;
  for (const auto& t : state.tensors) total += t.tensor.numel();
  EXPECT_EQ(j["total_elements"], total);

  ASSERT_EQ(j["seed_layers"].size(), 1u);
  const json& layer = j["seed_layers"][0];
  EXPECT_EQ(layer["layer"], "kasmina1");
  EXPECT_EQ(layer["seeds"], 64);
  const Tensor& stage = *state.find_tensor("seeds/kasmina1/stage");
  std::map<std::string, int64_t> got;
  for (const auto& s : layer["stages"]) got[s["stage"]] = s["count"];
  EXPECT_EQ(got, stage_histogram(stage));
  // blueprints in use: seeds neither DORMANT nor CULLED/CANCELLED/ROLLED_BACK
  std::map<int64_t, int64_t> want_blueprints;
  const auto* st = static_cast<const uint8_t*>(stage.raw());
  const auto* bp =
      static_cast<const int32_t*>(state.find_tensor("seeds/kasmina1/blueprint")->raw());
  for (int i = 0; i < 64; ++i)
    if (st[i] != 0 && st[i] < 8) ++want_blueprints[bp[i]];
  std::map<int64_t, int64_t> got_blueprints;
  for (const auto& b : layer["blueprints_in_use"]) got_blueprints[b["blueprint"]] = b["seeds"];
  EXPECT_EQ(got_blueprints, want_blueprints);
  EXPECT_EQ(j["metrics"]["validation_accuracy"], 0.875);

  const std::string text = run_inspect({"inspect", "checkpoint", path});
  EXPECT_NE(text.find("step 4200, epoch 42"), std::string::npos) << text;
  EXPECT_NE(text.find("not checked (use --verify)"), std::string::npos) << text;
  EXPECT_NE(text.find("kasmina1: 64 seeds"), std::string::npos) << text;
  EXPECT_NE(text.find("validation_accuracy"), std::string::npos) << text;
}

TEST(Inspect, VerifyNamesTheDamagedDataset) {
  TempDir dir;
  const std::string path = checkpoint_path(dir.path(), 9);
  write_checkpoint(path, test::synthetic_state(32, 9));
  haddr_t offset = 0;
  {
    hdf5_init();
    H5Id f = own_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
    H5Id ds = open_dataset(f, "/tensors/model.2.weight");
    offset = H5Dget_offset(ds);
  }
  auto bytes = test::read_bytes(path);
  bytes.at(offset + 17) ^= 0x01;
  const std::string damaged = dir.file("damaged.h5");
  test::write_bytes(damaged, bytes);
  try {
    run_inspect({"inspect", "checkpoint", damaged, "--verify"});
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch in dataset /tensors/model.2.weight"),
              std::string::npos)
        << e.what();
  }
  // without --verify the file is still summarised
  EXPECT_NE(run_inspect({"inspect", "checkpoint", damaged}).find("model.2"), std::string::npos);

  const auto r = run_binary("inspect checkpoint " + damaged + " --verify", dir);
  if (!r) GTEST_SKIP() << "KASMINA_BIN not set";
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_EQ(r->out, "");
  EXPECT_EQ(r->err.rfind("kasmina: error: " + damaged +
                             ": truncated or damaged: checksum mismatch in dataset "
                             "/tensors/model.2.weight",
                         0),
            0u)
      << r->err;
  EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  const auto ok = run_binary("inspect checkpoint " + path + " --verify", dir);
  EXPECT_EQ(ok->exit_code, 0) << ok->err;
  EXPECT_NE(ok->out.find("verified"), std::string::npos);
}

TEST(Inspect, BadFilesExitTwoWithOneLine) {
  TempDir dir;
  const std::string text = dir.file("notes.txt");
  test::write_bytes(text, {'n', 'o', 't', 'e', 's'});
  const std::string telemetry = dir.file("telemetry.h5");
  { TelemetryWriter w(telemetry, {"", "x", "cpu", ""}); }
  const std::string checkpoint = checkpoint_path(dir.path(), 3);
  write_checkpoint(checkpoint, test::synthetic_state(33, 3));
  const auto bytes = test::read_bytes(checkpoint);
  const std::string truncated = dir.file("truncated.h5");
  test::write_bytes(truncated,
                    {bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)});

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"inspect checkpoint " + text, text + ": not an HDF5 file"},
      {"inspect telemetry " + text, text + ": not an HDF5 file"},
      {"inspect checkpoint " + telemetry,
       telemetry + ": is a kasmina-telemetry file, expected kasmina-checkpoint"},
      {"inspect telemetry " + checkpoint,
       checkpoint + ": is a kasmina-checkpoint file, expected kasmina-telemetry"},
      {"inspect checkpoint " + dir.file("missing.h5"), dir.file("missing.h5") + ": no such file"},
      {"inspect checkpoint " + truncated, truncated + ": truncated or damaged: "},
  };
  for (const auto& [args, message] : cases) {
    const auto r = run_binary(args, dir);
    if (!r) GTEST_SKIP() << "KASMINA_BIN not set";
    EXPECT_EQ(r->exit_code, 2) << args;
    EXPECT_EQ(r->err.rfind("kasmina: error: " + message, 0), 0u) << args << "\n" << r->err;
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  }
}

TEST(Inspect, TelemetrySummaryCountsAndTimeline) {
  TempDir dir;
  const std::string path = dir.file("telemetry.h5");
  {
    TelemetryWriter w(path, {"seed: 1\n", "timeline", "cpu", "2026-03-04T05:06:07Z"});
    w.add_seed_layer("k1", 10, {"mean"});
    std::vector<float> stats(10, 1.0f);
    for (int64_t s = 0; s <= 100; ++s) w.append_step({s, s / 50, 2.0 - 0.01 * s, 1e-3, 500.0});
    w.append_seed_stats("k1", 50, stats.data());
    w.append_epoch({0, 1.5, 0.6, kAbsent, kAbsent, 1.4, 0.65, 3.0});
    w.append_epoch({1, 1.2, 0.7, kAbsent, kAbsent, 1.45, 0.7, 2.5});
    w.append_event({10, "k1", 1, 0, 1, "residual_mlp", "germinate", 0});
    w.append_event({20, "k1", 1, 1, 2, "residual_mlp", "start training", 0});
    w.append_event({20, "k1", 2, 0, 1, "lora", "germinate", 0});
    w.append_event({30, "k1", 2, 1, 8, "lora", "cull", -0.1});
    w.append_event({40, "k1", 1, 2, 2, "residual_mlp", "refused: too early", 0});
    w.append_message({10, "control", "Germinate", "{\"seed\": 1}"});
  }
  const json j = json::parse(run_inspect({"inspect", "telemetry", path, "--json"}));
  EXPECT_EQ(j["config_name"], "timeline");
  EXPECT_EQ(j["start_time"], "2026-03-04T05:06:07Z");
  EXPECT_EQ(j["steps"]["count"], 101);
  EXPECT_EQ(j["steps"]["last"], 100);
  EXPECT_DOUBLE_EQ(j["steps"]["final_loss"].get<double>(), 1.0);
  EXPECT_EQ(j["epochs"], 2);
  EXPECT_EQ(j["epoch_metrics"]["train_loss"]["best"], 1.2);
  EXPECT_EQ(j["epoch_metrics"]["test_loss"]["best"], 1.4);
  EXPECT_EQ(j["epoch_metrics"]["test_loss"]["best_epoch"], 0);
  EXPECT_EQ(j["epoch_metrics"]["test_loss"]["final"], 1.45);
  EXPECT_EQ(j["epoch_metrics"]["test_accuracy"]["best"], 0.7);
  EXPECT_TRUE(j["epoch_metrics"]["validation_loss"]["best"].is_null());
  std::map<std::string, int64_t> transitions;
  for (const auto& t : j["events"]["transitions"])
    transitions[t["from"].get<std::string>() + ">" + t["to"].get<std::string>()] = t["count"];
  EXPECT_EQ(transitions, (std::map<std::string, int64_t>{{"DORMANT>GERMINATED", 2},
                                                         {"GERMINATED>TRAINING", 1},
                                                         {"GERMINATED>CULLED", 1},
                                                         {"TRAINING>TRAINING", 1}}));
  EXPECT_EQ(j["messages"]["total"], 1);
  ASSERT_EQ(j["seed_layers"].size(), 1u);
  const json& timeline = j["seed_layers"][0]["stage_timeline"];
  ASSERT_EQ(timeline.size(), 8u);
  EXPECT_EQ(timeline[0]["step"], 0);
  EXPECT_EQ(timeline[0]["counts"], json({{"DORMANT", 10}}));
  EXPECT_EQ(timeline[1]["step"], 14);
  EXPECT_EQ(timeline[1]["counts"], json({{"DORMANT", 9}, {"GERMINATED", 1}}));
  EXPECT_EQ(timeline[2]["step"], 28);
  EXPECT_EQ(timeline[2]["counts"], json({{"DORMANT", 8}, {"GERMINATED", 1}, {"TRAINING", 1}}));
  EXPECT_EQ(timeline[7]["step"], 100);
  EXPECT_EQ(timeline[7]["counts"], json({{"DORMANT", 8}, {"TRAINING", 1}, {"CULLED", 1}}));

  const std::string text = run_inspect({"inspect", "telemetry", path});
  EXPECT_NE(text.find("DORMANT -> GERMINATED"), std::string::npos) << text;
  EXPECT_NE(text.find("TRAINING -> TRAINING (refused)"), std::string::npos) << text;
  EXPECT_NE(text.find("seeds per stage over time: k1 (10 seeds"), std::string::npos) << text;

  const auto r = run_binary("inspect telemetry " + path, dir);
  if (!r) GTEST_SKIP() << "KASMINA_BIN not set";
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, text);
}

}  // namespace
}  // namespace kasmina::io
