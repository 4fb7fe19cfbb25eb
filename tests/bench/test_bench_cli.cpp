// `kasmina bench` run as the real binary (KASMINA_BIN): the JSON it writes follows Google
// Benchmark's schema with kasmina's context, --filter selects, --save-baseline / --baseline
// compare with the right exit codes, and mistakes exit 2 with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/run_process.hpp"

namespace kasmina {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ProcessResult;
using testing::TempDir;

// A fast benchmark and options that keep a run short.
const std::vector<std::string> kCpuArgs = {"bench", "--device", "cpu", "--min-time", "0.01"};
const std::vector<std::string> kFastRun = {
    "bench", "--device", "cpu", "--filter", "^ops/softmax_xent", "--min-time", "0.01"};

std::string binary() {
  const char* bin = std::getenv("KASMINA_BIN");
  return bin != nullptr ? bin : "";
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

void write_json(const fs::path& p, const json& j) {
  std::ofstream(p) << j.dump(2);
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(binary().empty()) << "KASMINA_BIN is not set (run through meson test)";
    ASSERT_TRUE(fs::exists(binary())) << binary();
  }
  ProcessResult run(std::vector<std::string> args) const {
    return testing::run_process(binary(), args, dir_.path());
  }
  static std::vector<std::string> with(std::vector<std::string> a,
                                       const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  void expect_user_error(const ProcessResult& r, const std::string& part) const {
    ASSERT_TRUE(r.exited) << "killed by signal " << r.signal;
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err.rfind("kasmina: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  }
  TempDir dir_;
};

// One real run shared by the tests below (a few seconds: the peaks are measured every run).
class BenchRun : public BenchCli {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(binary().empty());
    run_dir_ = new TempDir();
    result_ = new ProcessResult(
        testing::run_process(binary(),
                             with(kFastRun, {"--repetitions", "2", "--format", "json", "--out",
                                             "out.json", "--save-baseline", "baseline.json"}),
                             run_dir_->path()));
  }
  static void TearDownTestSuite() {
    delete result_;
    delete run_dir_;
  }
  static fs::path path(const std::string& name) { return run_dir_->path() / name; }
  static TempDir* run_dir_;
  static ProcessResult* result_;
};
TempDir* BenchRun::run_dir_ = nullptr;
ProcessResult* BenchRun::result_ = nullptr;

TEST_F(BenchRun, JsonFollowsGoogleBenchmarkSchemaWithKasminaContext) {
  ASSERT_TRUE(result_->exited);
  ASSERT_EQ(result_->exit_code, 0) << result_->err;
  const json stdout_json = json::parse(result_->out);  // stdout is exactly one JSON document
  const json file = read_json(path("out.json"));
  for (const json* j : {&stdout_json, &file}) {
    const json& ctx = (*j)["context"];
    for (const char* key :
         {"date", "host_name", "num_cpus", "library_build_type", "kasmina_version",
          "kasmina_git_commit", "kasmina_build_type", "kasmina_device", "kasmina_device_name",
          "peak_bandwidth_bytes_per_second", "peak_flops"})
      EXPECT_TRUE(ctx.contains(key)) << key;
    EXPECT_EQ(ctx["kasmina_device"], "cpu");
    EXPECT_GT(std::stod(ctx["peak_bandwidth_bytes_per_second"].get<std::string>()), 1e8);
    EXPECT_GT(std::stod(ctx["peak_flops"].get<std::string>()), 1e8);
    const json& benchmarks = (*j)["benchmarks"];
    int iterations = 0, aggregates = 0;
    for (const json& b : benchmarks) {
      EXPECT_EQ(b["run_name"].get<std::string>().rfind("ops/softmax_xent/", 0), 0u) << b.dump();
      for (const char* key : {"name", "run_name", "run_type", "repetitions", "real_time",
                              "cpu_time", "time_unit", "iterations"})
        EXPECT_TRUE(b.contains(key)) << key << " in " << b.dump();
      if (b["run_type"] == "iteration") {
        ++iterations;
        EXPECT_GT(b["real_time"].get<double>(), 0.0);
        EXPECT_GT(b["bytes_per_second"].get<double>(), 0.0);
        const double frac = b["frac_of_peak_bw"].get<double>();
        EXPECT_GT(frac, 0.0);
        EXPECT_LT(frac, 10.0);
      } else {
        ++aggregates;
        EXPECT_EQ(b["run_type"], "aggregate");
      }
    }
    EXPECT_EQ(iterations, 2);  // --repetitions 2
    EXPECT_GE(aggregates, 3);  // mean, median, stddev
  }
  EXPECT_EQ(read_json(path("baseline.json")), file);
}

TEST_F(BenchRun, SameResultsAgainstThemselvesPass) {
  const ProcessResult r = testing::run_process(
      binary(), {"bench", "--baseline", "baseline.json", "--results", "out.json"},
      run_dir_->path());
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ops/softmax_xent/B128_C10/manual_time"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 regressed"), std::string::npos) << r.out;
}

TEST_F(BenchRun, TwiceAsSlowAsTheBaselineExitsOne) {
  json base = read_json(path("baseline.json"));
  for (json& b : base["benchmarks"]) b["real_time"] = b["real_time"].get<double>() / 2.0;
  write_json(path("fast_baseline.json"), base);
  const ProcessResult r = testing::run_process(
      binary(), {"bench", "--baseline", "fast_baseline.json", "--results", "out.json"},
      run_dir_->path());
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("REGRESSED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+100.0%"), std::string::npos) << r.out;
}

TEST_F(BenchRun, BaselineFromAnotherDeviceIsRefused) {
  json base = read_json(path("baseline.json"));
  base["context"]["kasmina_device"] = "cuda:0";
  base["context"]["kasmina_device_name"] = "NVIDIA H100 80GB HBM3";
  write_json(path("gpu_baseline.json"), base);
  const ProcessResult r = testing::run_process(
      binary(), {"bench", "--baseline", "gpu_baseline.json", "--results", "out.json"},
      run_dir_->path());
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("gpu_baseline.json was measured on device 'cuda:0'"), std::string::npos)
      << r.err;

  json other_build = read_json(path("baseline.json"));
  other_build["context"]["kasmina_build_type"] = "debug";
  write_json(path("debug_baseline.json"), other_build);
  const ProcessResult d = testing::run_process(
      binary(), {"bench", "--baseline", "debug_baseline.json", "--results", "out.json"},
      run_dir_->path());
  EXPECT_EQ(d.exit_code, 2);
  EXPECT_NE(d.err.find("build type 'debug'"), std::string::npos) << d.err;
}

// A corrupt baseline fails with exit 2 naming the problem; it never passes the gate.
TEST_F(BenchRun, CorruptBaselinesAreRefused) {
  const json good = read_json(path("baseline.json"));
  const std::string first = good["benchmarks"][0]["run_name"].get<std::string>();
  struct Case {
    std::string file, text, message;
  };
  auto with_time = [&](const json& t) {
    json j = good;
    for (json& b : j["benchmarks"]) b["real_time"] = t;
    return j.dump();
  };
  json no_time = good, no_name = good, no_benchmarks = good;
  for (json& b : no_time["benchmarks"]) b.erase("real_time");
  no_name["context"].erase("kasmina_device_name");
  no_benchmarks["benchmarks"] = json::array();
  std::string nan_text = with_time(1.0);
  for (size_t at; (at = nan_text.find("\"real_time\":1.0")) != std::string::npos;)
    nan_text.replace(at, 15, "\"real_time\":NaN");
  const std::vector<Case> cases = {
      {"negative.json", with_time(-1.0),
       "negative.json: benchmark '" + first + "': real_time -1.0 is not a positive time"},
      {"zero.json", with_time(0), "zero.json: benchmark '" + first + "': real_time 0 is not a"},
      {"nan.json", nan_text, "nan.json: not valid JSON"},
      {"huge.json", "{\"benchmarks\": [{\"name\": \"a\", \"real_time\": 1e999}]}",
       "huge.json: not valid JSON"},
      {"no_time.json", no_time.dump(),
       "no_time.json: benchmark '" + first + "' has no numeric \"real_time\""},
      {"no_name.json", no_name.dump(),
       "no_name.json: not a kasmina benchmark result (context has no 'kasmina_device_name')"},
      {"empty.json", no_benchmarks.dump(), "empty.json: holds no benchmark results"},
      {"text.json", "median: 3 ms\n", "text.json: not valid JSON"},
  };
  for (const Case& c : cases) {
    std::ofstream(path(c.file)) << c.text;
    const ProcessResult r = testing::run_process(
        binary(), {"bench", "--baseline", c.file, "--results", "out.json"}, run_dir_->path());
    ASSERT_TRUE(r.exited) << c.file << ": killed by signal " << r.signal;
    EXPECT_EQ(r.exit_code, 2) << c.file << ": " << r.out << r.err;
    EXPECT_EQ(r.err.rfind("kasmina: error: " + c.message, 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// A baseline that cannot apply is refused before the benchmarks run: nothing is measured,
// printed or written.
TEST_F(BenchRun, UnusableBaselineIsRefusedBeforeRunningAndWritesNothing) {
  json gpu = read_json(path("baseline.json"));
  gpu["context"]["kasmina_device"] = "cuda:0";
  write_json(path("gpu.json"), gpu);
  json negative = read_json(path("baseline.json"));
  for (json& b : negative["benchmarks"]) b["real_time"] = -1.0;
  write_json(path("negative.json"), negative);
  for (const char* baseline : {"gpu.json", "negative.json"}) {
    const ProcessResult r =
        testing::run_process(binary(),
                             with(kFastRun, {"--baseline", baseline, "--out", "refused_out.json",
                                             "--save-baseline", "refused_baseline.json"}),
                             run_dir_->path());
    ASSERT_TRUE(r.exited);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err.rfind(std::string("kasmina: error: "), 0), 0u) << r.err;
    EXPECT_NE(r.err.find(baseline), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "benchmarks ran";
    EXPECT_FALSE(fs::exists(path("refused_out.json")));
    EXPECT_FALSE(fs::exists(path("refused_baseline.json")));
  }
  const ProcessResult r =
      testing::run_process(binary(), with(kFastRun, {"--baseline", "gpu.json"}), run_dir_->path());
  EXPECT_NE(r.err.find("gpu.json was measured on device 'cuda:0', this run on device 'cpu'"),
            std::string::npos)
      << r.err;
}

TEST_F(BenchCli, ListHonoursTheFilter) {
  const ProcessResult r = run({"bench", "--device", "cpu", "--list", "--filter", "^morph/"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<std::string> names;
  for (std::string l; std::getline(lines, l);) names.push_back(l);
  // forward x2 in float32 and in bf16, rollback, forward+backward x2 in float32 and in bf16,
  // lifecycle, optimizer; the in-place forward and forward+backward at both shapes in float32
  // and at the big one in bf16, and the in-place forward's two halves at both shapes and B128; the
  // whole-layer seed's step and eval forward on the per-row and GEMM paths; the row seeds' step
  // and eval forward
  ASSERT_EQ(names.size(), 28u) << r.out;
  for (const std::string& n : names) EXPECT_EQ(n.rfind("morph/", 0), 0u) << n;
  const ProcessResult all = run({"bench", "--device", "cpu", "--list"});
  EXPECT_NE(all.out.find("peak/gemm/"), std::string::npos);
  EXPECT_NE(all.out.find("train_step/fmnist_mlp_784-256-128-10/B256"), std::string::npos);
  const ProcessResult neg =
      run({"bench", "--device", "cpu", "--list", "--filter", "-^(ops|morph|peak)/"});
  EXPECT_EQ(neg.out,
            "train_step/fmnist_mlp_784-256-128-10/B128\n"
            "train_step/fmnist_mlp_784-256-128-10/B128/steady\n"
            "train_step/fmnist_mlp_dormant_kasmina/B128\n"
            "train_step/fmnist_mlp_784-256-128-10/B128/bf16\n"
            "train_step/fmnist_mlp_784-256-128-10/B128/bf16/forward_casts\n"
            "train_step/fmnist_mlp_784-256-128-10/B256\n"
            "train_step/fmnist_mlp_784-256-128-10/B256/steady\n"
            "train_step/fmnist_mlp_dormant_kasmina/B256\n"
            "train_step/fmnist_mlp_active_kasmina/B256\n"
            "train_step/fmnist_mlp_active_kasmina_ir/B256\n"
            "train_step/fmnist_mlp_784-256-128-10/B256/bf16\n"
            "train_step/fmnist_mlp_784-256-128-10/B256/bf16/forward_casts\n"
            "train_step/mlp_784-1024-1024-10/B4096/fp32\n"
            "train_step/mlp_784-1024-1024-10/B4096/tf32\n"
            "train_step/mlp_784-1024-1024-10/B4096/bf16\n"
            "train_step/mlp_784-4096-4096-10/B4096/fp32\n"
            "train_step/mlp_784-4096-4096-10/B4096/tf32\n"
            "train_step/mlp_784-4096-4096-10/B4096/bf16\n"
            "train_step/fmnist_resnet/B128/tf32\n"
            "train_step/fmnist_resnet/B128/bf16\n"
            "train_step/fmnist_resnet/B128/bf16/forward_casts\n"
            "train_step/fmnist_vit/B128/fp32\n"
            "train_step/fmnist_vit/B128/tf32\n"
            "train_step/fmnist_vit/B128/bf16\n"
            "train_step/fmnist_vit/B128/bf16/forward_casts\n"
            "train_step/fmnist_vit/B128/bf16/attention\n");
  const ProcessResult peaks = run({"bench", "--device", "cpu", "--list", "--filter", "^peak/gemm"});
  EXPECT_EQ(peaks.out,
            "peak/gemm/M1024_N1024_K1024\npeak/gemm_tf32/M1024_N1024_K1024\n"
            "peak/gemm_bf16/M1024_N1024_K1024\n");
}

// A run runs exactly what --list selects for the same filter: an anchored filter ("...C10$")
// matches the listed name, which Google Benchmark runs as ".../manual_time".
TEST_F(BenchCli, AnchoredFilterRunsWhatItLists) {
  const std::string name = "ops/softmax_xent/B128_C10";
  const std::vector<std::string> filter = {"--filter", "^" + name + "$"};
  const ProcessResult list = run(with({"bench", "--device", "cpu", "--list"}, filter));
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, name + "\n");
  const ProcessResult r = run(with(with(kCpuArgs, filter), {"--format", "json"}));
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  std::vector<std::string> ran;
  for (const json& b : doc["benchmarks"]) ran.push_back(b["name"]);
  EXPECT_EQ(ran, std::vector<std::string>{name + "/manual_time"}) << r.out;
}

TEST_F(BenchCli, MistakesExitTwo) {
  expect_user_error(run(with(kCpuArgs, {"--filter", "^no_such_benchmark$"})),
                    "matches no benchmark");
  expect_user_error(run(with(kCpuArgs, {"--filter", "ops/(("})), "not a valid regular expression");
  expect_user_error(run(with(kFastRun, {"--format", "xml"})),
                    "--format: 'xml' is not allowed (allowed: console, json)");
  expect_user_error(run(with(kFastRun, {"--repetitions", "0"})),
                    "--repetitions: must be at least 1");
  expect_user_error(run(with(kFastRun, {"--baseline", "missing.json"})),
                    "missing.json: cannot read");
  expect_user_error(run({"bench", "--results", "x.json"}), "--results: needs --baseline");
  expect_user_error(run({"bench", "--device", "tpu", "--list"}), "tpu");
  std::ofstream(dir_.path() / "garbage.json") << "{\"benchmarks\": 3}";
  expect_user_error(run({"bench", "--baseline", "garbage.json", "--results", "garbage.json"}),
                    "garbage.json: not a Google Benchmark JSON result");
  EXPECT_FALSE(fs::exists(dir_.path() / "missing.json"));
}

// Counts that would only exhaust memory or time are refused before anything runs or is written.
TEST_F(BenchCli, CountsAreBoundedBeforeAnythingRuns) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {with(kFastRun, {"--repetitions", "2147483647", "--out", "r.json"}),
       "--repetitions: must be at most 1000, got 2147483647"},
      {{"bench", "--device", "cpu", "--model", "m.yaml", "--iterations", "2147483647"},
       "--iterations: must be at most 1000000, got 2147483647"},
      {{"bench", "--device", "cpu", "--model", "m.yaml", "--iterations", "0"},
       "--iterations: must be at least 1, got 0"},
      {{"bench", "--device", "cpu", "--model", "m.yaml", "--batch", "4611686018427387904"},
       "--batch: must be at most 65536, got 4611686018427387904"},
  };
  for (const Case& c : cases) {
    const ProcessResult r = run(c.args);
    ASSERT_TRUE(r.exited) << "killed by signal " << r.signal;
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err, "kasmina: error: " + c.message + "\n");
    EXPECT_EQ(r.out, "");
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "r.json"));
}

// `--model`: one row per layer with its forward and backward milliseconds, then the layer's whole
// description however long (a residual block describes its body), then the two totals.
TEST_F(BenchCli, ModelTableShowsEveryLayerInFull) {
  std::string body;  // eight pre-norm MLPs: a description of more than 600 characters
  for (int i = 0; i < 8; ++i)
    body +=
        "        - {type: layernorm}\n        - {type: linear, out: 96}\n"
        "        - {type: gelu}\n        - {type: linear, out: 48}\n";
  std::ofstream(dir_.path() / "m.yaml")
      << "name: m\ndata: {dataset: spirals, spirals_train: 64, spirals_test: 64}\nmodel:\n"
         "  layers:\n    - {type: linear, out: 48}\n    - type: residual\n      layers:\n"
      << body
      << "    - {type: linear, out: 2}\noptimizer: {type: adamw, lr: 1.0e-3}\n"
         "train: {epochs: 1, batch_size: 16}\n";
  const ProcessResult r =
      run({"bench", "--device", "cpu", "--model", "m.yaml", "--iterations", "3"});
  ASSERT_TRUE(r.exited) << "killed by signal " << r.signal;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 8u) << r.out;  // config, device, header, 3 layers, 2 totals
  EXPECT_EQ(lines[0], "model of m.yaml");
  EXPECT_EQ(lines[1], "device cpu, batch 16, median of 3 iterations");
  const std::vector<std::string> labels = {"0", "1", "2", "", ""};
  for (size_t i = 0; i < labels.size(); ++i) {
    std::istringstream row(lines[3 + i]);
    std::string label = labels[i];
    if (!label.empty()) {
      std::string got;
      row >> got;
      EXPECT_EQ(got, label) << lines[3 + i];
    }
    double forward = -1.0, backward = -1.0;
    row >> forward >> backward;
    EXPECT_GT(forward, 0.0) << lines[3 + i];
    EXPECT_GT(backward, 0.0) << lines[3 + i];
    std::string description;
    std::getline(row >> std::ws, description);
    const std::vector<std::string> want = {"linear 2 -> 48", "residual", "linear 48 -> 2",
                                           "sum of layers", "whole model (fused backward)"};
    EXPECT_EQ(description.rfind(want[i], 0), 0u) << lines[3 + i];
  }
  // The residual block's row ends with the last layer of its body, however long it is.
  EXPECT_GT(lines[4].size(), 600u) << lines[4];
  EXPECT_NE(lines[4].find("linear 96 -> 48", lines[4].size() - 40), std::string::npos) << lines[4];
}

}  // namespace
}  // namespace kasmina
