// The GEMM path of residual_mlp seeds (morph/seed_path.hpp, ops/morph/morph_gemm_path.hpp) on
// the CPU: the automatic rule, function preservation, and the same results as the per-row path
// (within float32 rounding) through the lifecycle of a whole-layer seed and of wide chunks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/str_cat.hpp"
#include "morph_test_util.hpp"
#include "ops/ops.hpp"

namespace kasmina::morph {
namespace {

TEST(MorphGemmPath, AutomaticRuleFollowsTheFusedKernelsShapes) {
  // configs/fmnist_grow.yaml: one seed over the 32-wide layer, hidden 64 (past kRowHidden).
  EXPECT_TRUE(residual_mlp_on_gemm(32, 64, 1, SeedPath::automatic));
  // A whole-layer seed of 32 x 32 weights: one block per seed on the fused kernels.
  EXPECT_TRUE(residual_mlp_on_gemm(32, 32, 1, SeedPath::automatic));
  EXPECT_FALSE(residual_mlp_on_gemm(16, 4, 1, SeedPath::automatic));
  // Wide chunks with several seeds (the wide instantiation).
  EXPECT_TRUE(residual_mlp_on_gemm(128, 4, 2, SeedPath::automatic));
  EXPECT_TRUE(residual_mlp_on_gemm(16, 40, 6, SeedPath::automatic));
  // The benchmarked chunk seeds stay on the fused kernels.
  EXPECT_FALSE(residual_mlp_on_gemm(16, 4, 1024, SeedPath::automatic));
  EXPECT_FALSE(residual_mlp_on_gemm(32, 32, 2, SeedPath::automatic));
  EXPECT_TRUE(residual_mlp_on_gemm(16, 4, 1024, SeedPath::gemm));
  EXPECT_FALSE(residual_mlp_on_gemm(32, 64, 1, SeedPath::row));
  // Only residual_mlp: a layer that does not allow it has no GEMM path.
  MorphConfig c = testing::small_config(32, 1);
  c.hidden = 64;
  c.allowed_blueprints = {BlueprintKind::low_rank};
  KasminaLayer lr(c);
  lr.prepare(4, Device::cpu());
  EXPECT_FALSE(lr.gemm_path());
  c.allowed_blueprints = {BlueprintKind::residual_mlp, BlueprintKind::low_rank};
  KasminaLayer mlp(c);
  mlp.prepare(4, Device::cpu());
  EXPECT_TRUE(mlp.gemm_path());
}

// The whole-layer seed of configs/fmnist_grow.yaml (a short lifecycle).
MorphConfig whole_layer(int64_t width, int32_t seeds, int32_t hidden, SeedPath path, bool task) {
  MorphConfig c = testing::small_config(width, seeds);
  c.hidden = hidden;
  c.allowed_blueprints = {BlueprintKind::residual_mlp};
  c.pool_slots = seeds;
  c.grafting = GraftingKind::fixed_ramp;
  c.grafting_params.ramp_steps = 3;
  const std::pair<Stage, int32_t> min_steps[] = {{Stage::training, 2},
                                                 {Stage::grafting, 4},
                                                 {Stage::stabilization, 1},
                                                 {Stage::evaluating, 1}};
  for (const auto& [stage, n] : min_steps) c.lifecycle.min_steps[static_cast<int32_t>(stage)] = n;
  c.lifecycle.max_training_steps = 3;
  c.lifecycle.training_loss_threshold = 1.0f;
  if (task) c.lifecycle.training_objective = static_cast<int32_t>(TrainingObjective::task_gradient);
  c.optimizer.lr = 1e-2f;
  c.seed_path = path;
  return c;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double tol,
                  const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool ok = std::fabs(double(a[i]) - b[i]) <= tol * (1.0 + std::fabs(double(a[i])));
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: row " << a[i] << " gemm " << b[i];
  }
}

// Integer fields equal, float fields (alpha, the EMAs of the measurements) within rounding.
void expect_same_state(const HostSeedState& a, const HostSeedState& b, int32_t seeds,
                       const std::string& tag) {
  for (int32_t f = 0; f < kSeedFieldCount; ++f) {
    const auto field = static_cast<SeedField>(f);
    for (int32_t s = 0; s < seeds; ++s) {
      const int32_t wa = a.words[f * seeds + s], wb = b.words[f * seeds + s];
      if (!seed_field_is_float(field)) {
        EXPECT_EQ(wa, wb) << tag << " " << seed_field_name(field) << "[" << s << "]";
        continue;
      }
      float fa, fb;
      std::memcpy(&fa, &wa, 4);
      std::memcpy(&fb, &wb, 4);
      EXPECT_NEAR(fa, fb, 1e-5 * (1.0 + std::fabs(fa)))
          << tag << " " << seed_field_name(field) << "[" << s << "]";
    }
  }
}

struct WalkCase {
  int64_t width;
  int32_t seeds, hidden;
  bool task;
};

class MorphGemmWalk : public ::testing::TestWithParam<WalkCase> {};

// Both paths from the same state each step (the GEMM layer's pool is reset to the per-row
// layer's before the boundary, so that AdamW's sign-like first steps do not amplify rounding):
// outputs, input gradients, blueprint gradients, gradient norms, step measurements, the
// lifecycle (stages, alpha) and the optimizer's result agree within float32 rounding.
TEST_P(MorphGemmWalk, GemmAndRowPathsAgreeThroughTheLifecycle) {
  const WalkCase k = GetParam();
  constexpr int64_t kB = 24;
  KasminaLayer row(whole_layer(k.width, k.seeds, k.hidden, SeedPath::row, k.task));
  KasminaLayer gemm(whole_layer(k.width, k.seeds, k.hidden, SeedPath::gemm, k.task));
  row.prepare(kB, Device::cpu());
  gemm.prepare(kB, Device::cpu());
  ASSERT_FALSE(row.gemm_path());
  ASSERT_TRUE(gemm.gemm_path());
  testing::StepClock crow(Device::cpu()), cgemm(Device::cpu());
  for (int32_t s = 0; s < k.seeds; ++s) {
    row.germinate(s, BlueprintKind::residual_mlp);
    gemm.germinate(s, BlueprintKind::residual_mlp);
  }
  std::set<int32_t> stages;
  for (int64_t step = 0; step < 16; ++step) {
    const std::string tag = "step " + std::to_string(step);
    const Tensor x = testing::random_tensor<float>({kB, k.width}, 100 + step);
    const Tensor dy = testing::random_tensor<float>({kB, k.width}, 200 + step, Device::cpu(), 0.1);
    const Tensor yr = row.forward(x, Mode::train, crow.ctx);
    const Tensor yg = gemm.forward(x, Mode::train, cgemm.ctx);
    expect_close(yr.to_vector<float>(), yg.to_vector<float>(), 2e-6, tag + " out");
    Tensor dxr = Tensor::zeros({kB, k.width}), dxg = Tensor::zeros({kB, k.width});
    row.backward(dy, &dxr, crow.ctx);
    gemm.backward(dy, &dxg, cgemm.ctx);
    expect_close(dxr.to_vector<float>(), dxg.to_vector<float>(), 2e-6, tag + " dx");
    const ops::MorphLayerBuffers &R = row.buffers(), &G = gemm.buffers();
    expect_close(R.step_stats.to_vector<float>(), G.step_stats.to_vector<float>(), 1e-5,
                 tag + " step_stats");
    expect_close(R.grad_norm.to_vector<float>(), G.grad_norm.to_vector<float>(), 1e-5,
                 tag + " grad_norm");
    expect_close(R.pool.to_vector<float>(), G.pool.to_vector<float>(), 1e-5,
                 tag + " pool (gradients)");
    Tensor gpool = G.pool;
    gpool.copy_from(R.pool);
    crow.set(step);
    cgemm.set(step);
    row.end_step(crow.ctx);
    gemm.end_step(cgemm.ctx);
    EXPECT_EQ(R.pool.to_vector<float>(), G.pool.to_vector<float>()) << tag << " optimizer";
    expect_same_state(row.seed_state().download(), gemm.seed_state().download(), k.seeds, tag);
    const HostSeedState hr = row.seed_state().download();
    for (int32_t s = 0; s < k.seeds; ++s) stages.insert(hr.words[s]);
  }
  // The walk covered the isolated stage and, under reconstruction, the blended ones (the
  // task_gradient gate may keep the seed in TRAINING).
  EXPECT_TRUE(stages.count(static_cast<int32_t>(Stage::training))) << "never TRAINING";
  if (!k.task) {
    EXPECT_TRUE(stages.count(static_cast<int32_t>(Stage::grafting))) << "no GRAFTING";
  }
  // Eval forwards (another batch size, masked evaluation) agree too.
  const Tensor xe = testing::random_tensor<float>({kB - 5, k.width}, 7);
  expect_close(row.forward(xe, Mode::eval, crow.ctx).to_vector<float>(),
               gemm.forward(xe, Mode::eval, cgemm.ctx).to_vector<float>(), 2e-6, "eval out");
  row.set_eval_alpha_zero({0});
  gemm.set_eval_alpha_zero({0});
  const Tensor ym = gemm.forward(xe, Mode::eval, cgemm.ctx);
  expect_close(row.forward(xe, Mode::eval, crow.ctx).to_vector<float>(), ym.to_vector<float>(),
               2e-6, "masked eval out");
  if (k.seeds == 1) {
    EXPECT_TRUE(testing::bitwise_equal(ym, xe)) << "masked whole-layer seed";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MorphGemmWalk,
                         ::testing::Values(WalkCase{32, 1, 64, false}, WalkCase{32, 1, 64, true},
                                           WalkCase{136, 2, 8, false}, WalkCase{24, 3, 5, true}),
                         [](const ::testing::TestParamInfo<WalkCase>& i) {
                           return str_cat("H", i.param.width, "_S", i.param.seeds, "_h",
                                          i.param.hidden, i.param.task ? "_task" : "");
                         });

TEST(MorphGemmPath, WholeLayerSeedPreservesTheHostBitwise) {
  // TRAINING (straight through) and a fresh graft at alpha 1 (zero last layer): the host's
  // outputs and input gradients are bitwise those of the identity; then the seed learns.
  MorphConfig c = whole_layer(32, 1, 64, SeedPath::automatic, true);
  KasminaLayer layer(c);
  layer.prepare(16, Device::cpu());
  ASSERT_TRUE(layer.gemm_path());
  testing::StepClock clock(Device::cpu());
  const Tensor x = testing::random_tensor<float>({16, 32}, 31);
  const Tensor dy = testing::random_tensor<float>({16, 32}, 32);
  const Stage stages[] = {Stage::training, Stage::grafting};
  for (Stage st : stages) {
    testing::arrange(layer, {{0, st, BlueprintKind::residual_mlp, 1.0f}});
    EXPECT_TRUE(testing::bitwise_equal(layer.forward(x, Mode::train, clock.ctx), x))
        << stage_name(st);
    Tensor dx = Tensor::zeros({16, 32});
    layer.backward(dy, &dx, clock.ctx);
    EXPECT_TRUE(testing::bitwise_equal(dx, dy)) << stage_name(st);
    EXPECT_GT(layer.buffers().grad_norm.to_vector<float>()[0], 1e-3f) << stage_name(st);
  }
  layer.end_step(clock.ctx);  // AdamW moves W2 off zero
  EXPECT_GT(testing::count_changed(layer.forward(x, Mode::eval, clock.ctx), x), 16 * 32 * 3 / 4);
}

// On CUDA (skips without a device): the whole-layer seed's training forward + backward through
// the layer is repeatable bitwise and a captured graph replays it bitwise (no host decision in
// the GEMM path).
TEST(MorphGemmPath, CudaRepeatableAndGraphReplayBitwise) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Device dev = Device::cuda(0);
  constexpr int64_t kB = 128;
  KasminaLayer layer(whole_layer(32, 1, 64, SeedPath::automatic, false));
  layer.prepare(kB, dev);
  ASSERT_TRUE(layer.gemm_path());
  testing::arrange(layer, {{0, Stage::grafting, BlueprintKind::residual_mlp, 1.0f}}, 7, 0.1);
  testing::StepClock clock(dev);
  const Tensor x = testing::random_tensor<float>({kB, 32}, 5, dev);
  const Tensor dy = testing::random_tensor<float>({kB, 32}, 6, dev);
  Tensor dx = Tensor::zeros({kB, 32}, DType::f32, dev);
  const Tensor y = testing::expect_step_repeatable_and_replayed(dev, layer, x, dy, dx, clock.ctx);
  EXPECT_GT(testing::count_changed(y, x.to(Device::cpu())), kB * 32 / 2);
  EXPECT_GT(layer.buffers().grad_norm.to_vector<float>()[0], 0.0f);
}

}  // namespace
}  // namespace kasmina::morph
