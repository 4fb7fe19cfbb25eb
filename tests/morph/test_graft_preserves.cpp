// Function-preserving grafts: every built-in blueprint starts with delta(x) = 0, so germinating,
// training (reconstruction objective) and grafting a seed at alpha = 1 (ramp_steps 0) leave the
// layer's output and input gradient bitwise equal to the host's until the blueprint's first
// update under the task gradient; after it the seeds are live (the output changes).
#include <gtest/gtest.h>

#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

using testing::bitwise_equal;
using testing::random_tensor;

MorphConfig graft_config() {
  MorphConfig c = testing::small_config(24, 3);  // C = 8, one seed per built-in
  c.hidden = 5;
  c.rank = 3;
  c.telemetry_every = 1;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::germinated)] = 1;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::training)] = 2;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::grafting)] = 3;  // learns in GRAFTING
  c.grafting_params.ramp_steps = 0;  // no ramp: alpha 1 at the first boundary
  c.optimizer.weight_decay = 0.01f;  // decays W1 / A, never a zero last layer
  c.lifecycle.max_training_seeds = 3;
  return c;
}

// Steps `layer` (width W, seeds 0..n-1 germinated) until every seed is blended at alpha 1,
// checking at each step (and including that forward) that the output and the input gradient
// are bitwise the host's. Returns whether alpha 1 was reached within 40 steps.
bool steps_until_alpha_one(KasminaLayer& layer, testing::StepClock& clock, int32_t n, int64_t W) {
  bool all_at_alpha_one = false;
  for (int64_t step = 0; step < 40 && !all_at_alpha_one; ++step) {
    clock.set(step);
    HostSeedState h = layer.seed_state().download();
    const SeedStateView v = h.view();
    all_at_alpha_one = true;
    for (int32_t s = 0; s < n; ++s)
      all_at_alpha_one = all_at_alpha_one && v.stage[s] == static_cast<int32_t>(Stage::grafting) &&
                         v.alpha[s] == 1.0f;
    const Tensor x = random_tensor<float>({16, W}, 300 + step);
    EXPECT_TRUE(bitwise_equal(layer.forward(x, Mode::eval, clock.ctx), x)) << "step " << step;
    EXPECT_TRUE(bitwise_equal(layer.forward(x, Mode::train, clock.ctx), x)) << "step " << step;
    const Tensor dy = random_tensor<float>({16, W}, 400 + step);
    Tensor dx = Tensor::zeros({16, W});
    layer.backward(dy, &dx, clock.ctx);
    EXPECT_TRUE(bitwise_equal(dx, dy)) << "step " << step;
    layer.end_step(clock.ctx);
  }
  return all_at_alpha_one;
}

TEST(MorphGraftPreserves, GerminatedTrainedAndGraftedSeedsLeaveOutputsBitwiseEqual) {
  KasminaLayer layer(graft_config());
  layer.prepare(16, Device::cpu());
  testing::StepClock clock(Device::cpu());
  layer.germinate(0, BlueprintKind::residual_mlp);
  layer.germinate(1, BlueprintKind::low_rank);
  layer.germinate(2, BlueprintKind::diag_scale);
  // Until every seed is blended at alpha 1 (and including that forward), nothing changes.
  const bool all_at_alpha_one = steps_until_alpha_one(layer, clock, 3, 24);
  ASSERT_TRUE(all_at_alpha_one) << "the seeds did not reach GRAFTING at alpha 1";
  // The path went through TRAINING (gate passed at loss 0) and GRAFTING with no ramp.
  int grafted = 0;
  for (const MorphEvent& e : layer.drain_events()) {
    EXPECT_FALSE(reason_is_refusal(static_cast<Reason>(e.reason)));
    if (e.from == static_cast<int32_t>(Stage::training) &&
        e.to == static_cast<int32_t>(Stage::grafting)) {
      EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::loss_gate));
      EXPECT_EQ(e.value, 0.0f);  // the isolated loss of a zero delta
      ++grafted;
    }
  }
  EXPECT_EQ(grafted, 3);
  // The step at alpha 1 trained the blueprints on the task gradient: every seed now changes its
  // chunk (the test would pass vacuously if the seeds were not blended).
  const Tensor x = random_tensor<float>({16, 24}, 999);
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<float> yv = layer.forward(x, Mode::eval, clock.ctx).to_vector<float>();
  for (int32_t s = 0; s < 3; ++s) {
    int differ = 0;
    for (int b = 0; b < 16; ++b)
      for (int c = 0; c < 8; ++c) differ += yv[b * 24 + s * 8 + c] != xv[b * 24 + s * 8 + c];
    EXPECT_GT(differ, 64) << "seed " << s;
  }
}

TEST(MorphGraftPreserves, InitialBlueprintsHaveZeroDeltaAndNonZeroLastLayerGradient) {
  // A seed placed straight into GRAFTING at alpha 1 with its initial parameters: the output is
  // the input, and the backward gives a nonzero gradient (to the last layer) for every built-in.
  KasminaLayer layer(graft_config(), DType::f64);
  layer.prepare(6, Device::cpu());
  testing::arrange(layer, {{0, Stage::grafting, BlueprintKind::residual_mlp, 1.0f},
                           {1, Stage::grafting, BlueprintKind::low_rank, 1.0f},
                           {2, Stage::grafting, BlueprintKind::diag_scale, 1.0f}});
  testing::StepClock clock(Device::cpu());
  const Tensor x = random_tensor<double>({6, 24}, 51);
  EXPECT_TRUE(bitwise_equal(layer.forward(x, Mode::train, clock.ctx), x));
  const Tensor dy = random_tensor<double>({6, 24}, 52);
  Tensor dx = Tensor::zeros({6, 24}, DType::f64);
  layer.backward(dy, &dx, clock.ctx);
  EXPECT_TRUE(bitwise_equal(dx, dy));
  const std::vector<float> gn = layer.buffers().grad_norm.to_vector<float>();
  for (int32_t s = 0; s < 3; ++s) EXPECT_GT(gn[static_cast<size_t>(s)], 1e-3f) << "seed " << s;
}

TEST(MorphGraftPreserves, AWholeLayerSeedLeavesOutputsBitwiseEqualThenLearns) {
  // One seed whose chunk is the whole 32-wide layer, residual_mlp 32 -> 64 -> 32 (hidden past
  // the register path's 32: CUDA's wide instantiation): the whole-layer blueprint of
  // configs/fmnist_grow.yaml.
  MorphConfig c = graft_config();
  c.width = 32;
  c.seeds = 1;
  c.hidden = 64;
  c.allowed_blueprints = {BlueprintKind::residual_mlp};
  KasminaLayer layer(c);
  layer.prepare(16, Device::cpu());
  testing::StepClock clock(Device::cpu());
  layer.germinate(0, BlueprintKind::residual_mlp);
  ASSERT_TRUE(steps_until_alpha_one(layer, clock, 1, 32));
  EXPECT_EQ(layer.blueprint_parameters(0), 64 * 32 + 64 + 32 * 64 + 32);
  // After the step at alpha 1 the blueprint changes every unit of the layer.
  const Tensor x = random_tensor<float>({16, 32}, 999);
  EXPECT_GT(testing::count_changed(layer.forward(x, Mode::eval, clock.ctx), x), 16 * 32 * 3 / 4);
}

}  // namespace
}  // namespace kasmina::morph
