// `kasmina bench` per math: the TF32 and bf16 GEMM peaks are measured (and recorded in the
// context) when a selected benchmark runs in that math, a bf16 training step reports its FLOP
// rate against the bf16 peak, and the 4096-wide steps are skipped on the CPU with a message; the
// steady variant of the reference step reports a time per step (not per run of steps). Runs the
// real binary (KASMINA_BIN) on the CPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli/run_process.hpp"

namespace kasmina {
namespace {

using nlohmann::json;
using testing::ProcessResult;
using testing::TempDir;

std::string binary() {
  const char* bin = std::getenv("KASMINA_BIN");
  return bin != nullptr ? bin : "";
}

// The iteration (not aggregate) result of benchmark `name`, or null.
const json* find_run(const json& doc, const std::string& name) {
  for (const json& b : doc["benchmarks"])
    if (b["name"] == name) return &b;
  return nullptr;
}

TEST(BenchPrecision, Bf16PeakAndStepOnTheCpu) {
  ASSERT_FALSE(binary().empty()) << "KASMINA_BIN is not set (run through meson test)";
  TempDir dir;
  const std::string step = "train_step/fmnist_mlp_784-256-128-10/B128/bf16";
  const std::string wide = "train_step/mlp_784-4096-4096-10/B4096/bf16";
  const ProcessResult r = testing::run_process(
      binary(),
      {"bench", "--device", "cpu", "--filter", "^(peak/gemm_bf16/|" + step + "|" + wide + ")",
       "--min-time", "0.01", "--format", "json"},
      dir.path());
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  const json& ctx = doc["context"];
  ASSERT_TRUE(ctx.contains("peak_flops_bf16")) << ctx.dump();
  EXPECT_FALSE(ctx.contains("peak_flops_tf32")) << "no TF32 benchmark was selected";
  const double peak_bf16 = std::stod(ctx["peak_flops_bf16"].get<std::string>());
  EXPECT_GT(peak_bf16, 1e8);

  const json* gemm = find_run(doc, "peak/gemm_bf16/M1024_N1024_K1024/manual_time");
  ASSERT_NE(gemm, nullptr) << r.out;
  // The benchmark times the same GEMM as the peak: its fraction is about 1.
  EXPECT_GT((*gemm)["frac_of_peak_flops"].get<double>(), 0.2);
  EXPECT_LT((*gemm)["frac_of_peak_flops"].get<double>(), 5.0);

  const json* s = find_run(doc, step + "/manual_time");
  ASSERT_NE(s, nullptr) << r.out;
  // 6 · 128 · (784·256 + 256·128 + 128·10) FLOPs per step.
  const double flops = 6.0 * 128 * (784.0 * 256 + 256.0 * 128 + 128.0 * 10);
  const double seconds = (*s)["real_time"].get<double>() * 1e-6;  // microseconds
  EXPECT_NEAR((*s)["flops_per_second"].get<double>(), flops / seconds, 1e-6 * flops / seconds);
  EXPECT_NEAR((*s)["frac_of_peak_flops"].get<double>(), flops / seconds / peak_bf16,
              1e-6 * flops / seconds / peak_bf16);

  const json* skipped = find_run(doc, wide + "/manual_time");
  ASSERT_NE(skipped, nullptr) << r.out;
  EXPECT_TRUE((*skipped)["error_occurred"].get<bool>());
  EXPECT_NE((*skipped)["error_message"].get<std::string>().find("skipped on the CPU"),
            std::string::npos);
}

// `.../B128/steady` times several steps per iteration (10 on the CPU), 20 iterations, and reports
// the time of one step: on the CPU (no L2 overwrite either way) it is the plain benchmark's time,
// not 10 times it, and its FLOP rate is that of one step.
TEST(BenchPrecision, SteadyStepReportsTimePerStep) {
  ASSERT_FALSE(binary().empty()) << "KASMINA_BIN is not set (run through meson test)";
  TempDir dir;
  const std::string plain = "train_step/fmnist_mlp_784-256-128-10/B128";
  const ProcessResult r =
      testing::run_process(binary(),
                           {"bench", "--device", "cpu", "--filter", "^" + plain + "(/steady)?$",
                            "--min-time", "0.05", "--format", "json"},
                           dir.path());
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  const json* p = find_run(doc, plain + "/manual_time");
  const json* s = find_run(doc, plain + "/steady/iterations:20/manual_time");
  ASSERT_NE(p, nullptr) << r.out;
  ASSERT_NE(s, nullptr) << r.out;
  const double tp = (*p)["real_time"].get<double>(), ts = (*s)["real_time"].get<double>();
  // Per step, not per timed iteration of 10 steps: within a factor of 6 or so (wide: a loaded
  // machine times the two rows at different moments; a missing division is a factor of 10).
  EXPECT_GT(ts, 0.15 * tp) << "steady " << ts << " us against " << tp << " us a step";
  EXPECT_LT(ts, 6.0 * tp) << "steady " << ts << " us against " << tp << " us a step";
  const double flops = 6.0 * 128 * (784.0 * 256 + 256.0 * 128 + 128.0 * 10);
  EXPECT_NEAR((*s)["flops_per_second"].get<double>(), flops / (ts * 1e-6),
              1e-6 * flops / (ts * 1e-6));
  // Samples a second of the step as timed (a batch of 128 per step), on both kinds of row.
  EXPECT_NEAR((*s)["samples_per_second"].get<double>(), 128.0 / (ts * 1e-6),
              1e-6 * 128.0 / (ts * 1e-6));
  EXPECT_NEAR((*p)["samples_per_second"].get<double>(), 128.0 / (tp * 1e-6),
              1e-6 * 128.0 / (tp * 1e-6));
}

}  // namespace
}  // namespace kasmina
