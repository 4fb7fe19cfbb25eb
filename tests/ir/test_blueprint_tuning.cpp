// Tune planning without a GPU: the seed kernels' shared memory, the candidate block sizes the
// autotuner times, the defaults, the perf-DB keys, and the block size a layer takes from the
// database (its shape's winner, the nearest shape's, or the default when the stored winner does
// not fit or the database cannot be opened). The timing itself runs on a GPU
// (`kasmina blueprint tune`, tests/cli/test_blueprint_cli.cpp).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "cache_test_util.hpp"
#include "ir_test_util.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_tuning.hpp"

namespace kasmina::ir {
namespace {

Graph gated() {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  return load_blueprint_file(std::string(root ? root : ".") + "/configs/blueprints/gated_mlp.yaml")
      .at(0);
}

TEST(BlueprintTuning, SharedMemoryAndCandidates) {
  const Graph g = gated();
  const Plan plan = make_plan(g, {16, 32, 4});
  ASSERT_EQ(plan.param_count, 1568);
  // T doubles for the reductions, the staged parameters, and in the backward T factor rows of
  // an odd stride.
  const int64_t fs = plan.factor_count | 1;
  EXPECT_EQ(ops::seed_kernel_smem(plan, false, 128), 8 * 128 + 4 * 1568);
  EXPECT_EQ(ops::seed_kernel_smem(plan, true, 64), 8 * 64 + 4 * 1568 + 4 * 64 * fs);
  const std::vector<int32_t> all = ops::tune_candidates(plan, true, {1 << 30, 1024});
  EXPECT_EQ(all, (std::vector<int32_t>{32, 64, 128, 256, 512}));
  const std::vector<int32_t> small = ops::tune_candidates(plan, true, {48 * 1024, 1024});
  ASSERT_FALSE(small.empty());
  EXPECT_LT(small.size(), all.size()) << "the factor tile of 512 rows does not fit 48 KB";
  for (int32_t t : small) EXPECT_LE(ops::seed_kernel_smem(plan, true, t), 48 * 1024) << t;
  EXPECT_TRUE(ops::tune_candidates(plan, true, {100, 1024}).empty());
  // A kernel limited to 128 threads by its registers.
  EXPECT_EQ(ops::tune_candidates(plan, false, {1 << 30, 128}), (std::vector<int32_t>{32, 64, 128}));
  EXPECT_EQ(ops::default_threads(plan, false, {1 << 30, 128}), 128);
  // Defaults: the largest block up to 256 within 48 KB.
  EXPECT_EQ(ops::default_threads(plan, false, {227 * 1024, 1024}), 256);
  EXPECT_EQ(ops::default_threads(plan, true, {227 * 1024, 1024}),
            small.back() > 256 ? 256 : small.back());
  EXPECT_EQ(ops::default_threads(plan, true, {100, 1024}), 0);
}

// The autotune modes: names, and when a layer times its kernels at prepare time.
TEST(BlueprintTuning, AutotuneModes) {
  EXPECT_EQ(ops::autotune_names(), (std::vector<std::string>{"off", "on_first_use", "exhaustive"}));
  ops::Autotune a = ops::Autotune::exhaustive;
  EXPECT_FALSE(ops::parse_autotune("first_use", &a));
  EXPECT_EQ(a, ops::Autotune::exhaustive) << "untouched on failure";
  EXPECT_FALSE(ops::should_tune(ops::Autotune::off, false));
  EXPECT_FALSE(ops::should_tune(ops::Autotune::off, true));
  EXPECT_TRUE(ops::should_tune(ops::Autotune::on_first_use, false));
  EXPECT_FALSE(ops::should_tune(ops::Autotune::on_first_use, true));
  EXPECT_TRUE(ops::should_tune(ops::Autotune::exhaustive, false));
  EXPECT_TRUE(ops::should_tune(ops::Autotune::exhaustive, true));
  EXPECT_EQ(ops::autotune_mode(), ops::Autotune::off) << "the process default";
  ops::set_autotune(ops::Autotune::on_first_use);
  EXPECT_EQ(ops::autotune_mode(), ops::Autotune::on_first_use);
  ops::set_autotune(ops::Autotune::off);
}

// Whether the perf DB holds the exact winners a layer needs (on_first_use times when it does
// not): a missing database, one key of two, both.
TEST(BlueprintTuning, PerfDbWinnersDecideOnFirstUse) {
  testing::CacheDir dir;
  const std::string db_path = dir.path() + "/perf.sqlite";
  const ops::GpuId gpu{"NVIDIA H200", 132, "12.8"};
  const PerfKey f = ops::seed_kernel_perf_key("k", false, 512, {16, 4, 4}, gpu);
  const PerfKey b = ops::seed_kernel_perf_key("k", true, 512, {16, 4, 4}, gpu);
  EXPECT_FALSE(ops::perf_db_has_winners(db_path, {f, b}));
  EXPECT_FALSE(std::filesystem::exists(db_path)) << "not created by the question";
  {
    PerfDb db(db_path);
    Measurement m;
    m.config.block = 128;
    m.config.rows_per_block = 128;
    m.time_us = 3.0;
    db.record(f, {m});
  }
  EXPECT_FALSE(ops::perf_db_has_winners(db_path, {f, b}));
  EXPECT_TRUE(ops::perf_db_has_winners(db_path, {f}));
  EXPECT_FALSE(
      ops::should_tune(ops::Autotune::on_first_use, ops::perf_db_has_winners(db_path, {f})));
}

TEST(BlueprintTuning, PerfKeysSeparateTheKernelsAndCarryTheShape) {
  const ops::GpuId gpu{"NVIDIA H200", 132, "12.8"};
  const PerfKey f = ops::seed_kernel_perf_key("abc", false, 512, {16, 32, 4}, gpu);
  const PerfKey b = ops::seed_kernel_perf_key("abc", true, 512, {16, 2, 8}, gpu);
  EXPECT_EQ(f.kernel, "abc/forward");
  EXPECT_EQ(b.kernel, "abc/backward");
  EXPECT_EQ(f.shape, (ProblemShape{512, 16, 32}));
  EXPECT_EQ(b.shape, (ProblemShape{512, 16, 8}));
  EXPECT_EQ(f.gpu, "NVIDIA H200");
  EXPECT_EQ(f.sm_count, 132);
}

TEST(BlueprintTuning, LayersTakeTheTunedTheNearestOrTheDefault) {
  testing::CacheDir dir;
  const std::string db_path = dir.path() + "/perf.sqlite";
  const Plan plan = make_plan(gated(), {16, 32, 4});
  const ops::GpuId gpu{"NVIDIA H200", 132, "12.8"};
  const ops::KernelLimits smem{227 * 1024, 1024};
  const PerfKey k512 = ops::seed_kernel_perf_key("key", true, 512, plan.shape, gpu);
  std::string note;
  ops::LaunchChoice c = ops::choose_launch(db_path, k512, plan, true, smem, &note);
  EXPECT_EQ(c.source, "default");
  EXPECT_EQ(c.threads, ops::default_threads(plan, true, smem));
  EXPECT_EQ(note, "");
  {
    PerfDb db(db_path);
    db.record(k512, {{{32, 32, 1, 1}, 9.0}, {{64, 64, 1, 1}, 4.0}, {{128, 128, 1, 1}, 6.0}});
  }
  c = ops::choose_launch(db_path, k512, plan, true, smem);
  EXPECT_EQ(c.source, "tuned");
  EXPECT_EQ(c.threads, 64);
  // Another batch: the nearest measured shape's winner.
  const PerfKey k300 = ops::seed_kernel_perf_key("key", true, 300, plan.shape, gpu);
  c = ops::choose_launch(db_path, k300, plan, true, smem);
  EXPECT_EQ(c.source, "nearest");
  EXPECT_EQ(c.threads, 64);
  // The forward kernel has no measurement.
  EXPECT_EQ(
      ops::choose_launch(db_path, ops::seed_kernel_perf_key("key", false, 512, plan.shape, gpu),
                         plan, false, smem)
          .source,
      "default");
  // A stored winner whose shared memory does not fit this device: the default.
  const ops::KernelLimits tight{ops::seed_kernel_smem(plan, true, 32), 1024};
  c = ops::choose_launch(db_path, k512, plan, true, tight);
  EXPECT_EQ(c.source, "default");
  EXPECT_EQ(c.threads, 32);
  // A database that cannot be opened (a directory): the default, and a note.
  c = ops::choose_launch(dir.path(), k512, plan, true, smem, &note);
  EXPECT_EQ(c.source, "default");
  EXPECT_NE(note.find("performance database not used"), std::string::npos) << note;
}

TEST(BlueprintTuning, PerfDbPathFromTheEnvironmentOrBesideTheCache) {
  ::setenv("KASMINA_PERF_DB", "/tmp/somewhere/perf.sqlite", 1);
  EXPECT_EQ(ops::default_perf_db_path(), "/tmp/somewhere/perf.sqlite");
  ::unsetenv("KASMINA_PERF_DB");
  EXPECT_EQ(ops::default_perf_db_path(), default_cache_dir() + "-perf.sqlite");
}

}  // namespace
}  // namespace kasmina::ir
