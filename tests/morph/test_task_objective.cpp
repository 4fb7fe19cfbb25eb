// TRAINING on the task signal (training_objective task_gradient): the host's outputs and input
// gradients stay bitwise those of a dormant layer while the blueprints learn from the task
// gradient straight through; the step's measurement is sum <delta(x), dy>; the parameter
// gradient matches finite differences of that linearised objective; the gate opens on the
// estimated gain, and (training_gain_z) only when that gain stands above its noise.
#include <gtest/gtest.h>

#include <cmath>

#include "morph/lifecycle.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

using testing::bitwise_equal;
using testing::random_tensor;

MorphConfig task_config() {
  MorphConfig c = testing::small_config(48, 6);  // C = 8
  c.hidden = 3;
  c.rank = 2;
  c.lifecycle.training_objective = static_cast<int32_t>(TrainingObjective::task_gradient);
  c.lifecycle.max_training_seeds = 6;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::training)] = 1000;  // stay in TRAINING
  c.lifecycle.max_training_steps = 1000;
  return c;
}

TEST(TaskObjective, TrainingSeedsLearnFromTheTaskGradientAndLeaveTheHostBitwiseUntouched) {
  KasminaLayer dormant(task_config()), growing(task_config());
  dormant.prepare(16, Device::cpu());
  growing.prepare(16, Device::cpu());
  // Fresh (zero-delta) blueprints: the task gradient still reaches their last layer.
  testing::arrange(growing, {{0, Stage::training, BlueprintKind::residual_mlp},
                             {2, Stage::training, BlueprintKind::low_rank},
                             {4, Stage::training, BlueprintKind::diag_scale}});
  testing::StepClock clock(Device::cpu());
  const std::vector<float> before = testing::pool_values<float>(growing);
  std::vector<float> change(6, 0.0f);
  for (int step = 0; step < 4; ++step) {
    clock.set(step);
    // One batch again and again: a consistent task signal to learn from.
    const Tensor x = random_tensor<float>({16, 48}, 100);
    const Tensor dy = random_tensor<float>({16, 48}, 200);
    EXPECT_TRUE(bitwise_equal(dormant.forward(x, Mode::train, clock.ctx),
                              growing.forward(x, Mode::train, clock.ctx)));
    Tensor dx0 = Tensor::zeros({16, 48}), dx1 = Tensor::zeros({16, 48});
    dormant.backward(dy, &dx0, clock.ctx);
    growing.backward(dy, &dx1, clock.ctx);
    EXPECT_TRUE(bitwise_equal(dx0, dx1)) << "step " << step;
    EXPECT_TRUE(bitwise_equal(dx1, dy));
    const std::vector<float> st = growing.buffers().step_stats.to_vector<float>();
    for (int32_t s = 0; s < 6; ++s)
      change[static_cast<size_t>(s)] = st[s * ops::kMorphStepStats + 1];
    dormant.end_step(clock.ctx);
    growing.end_step(clock.ctx);
  }
  // Every TRAINING blueprint moved, and learning on J_p^T dy made the last step's measured
  // change sum <delta, dy> negative: an estimated gain (its value against a direct computation:
  // the next test).
  const std::vector<float> after = testing::pool_values<float>(growing);
  const ops::MorphLayerBuffers& L = growing.buffers();
  const int64_t stride = static_cast<int64_t>(L.pool_region) * kPoolRegionCount;
  for (int32_t slot = 0; slot < 3; ++slot) {
    int moved = 0;
    for (int32_t i = 0; i < L.pool_region; ++i)
      moved += before[slot * stride + i] != after[slot * stride + i];
    EXPECT_GT(moved, 0) << "slot " << slot;
  }
  for (int32_t s : {0, 2, 4}) EXPECT_LT(change[static_cast<size_t>(s)], 0.0f) << "seed " << s;
  HostSeedState h = growing.seed_state().download();
  EXPECT_LT(h.view().iso_loss_ema[0], 0.0f);  // the EMA of the (negative) change
  EXPECT_EQ(h.view().opt_step[0], 4);
}

TEST(TaskObjective, MeasurementAndGradientMatchTheLinearisedObjective) {
  // f64: step_stats[s][1] = sum <delta(x), dy>; the gradient = d/dp of that sum.
  KasminaLayer layer(task_config(), DType::f64);
  layer.prepare(3, Device::cpu());
  testing::arrange(layer,
                   {{1, Stage::training, BlueprintKind::residual_mlp},
                    {3, Stage::training, BlueprintKind::low_rank},
                    {5, Stage::training, BlueprintKind::diag_scale}},
                   9, /*jitter=*/0.3);
  testing::StepClock clock(Device::cpu());
  const Tensor x = random_tensor<double>({3, 48}, 41), dy = random_tensor<double>({3, 48}, 42);
  layer.forward(x, Mode::train, clock.ctx);
  Tensor dx = Tensor::zeros({3, 48}, DType::f64);
  layer.backward(dy, &dx, clock.ctx);
  const ops::MorphLayerBuffers& L = layer.buffers();
  std::vector<double> pool = L.pool.to_vector<double>();
  const std::vector<double> xv = x.to_vector<double>(), gv = dy.to_vector<double>();
  const std::vector<float> stats = L.step_stats.to_vector<float>();
  HostSeedState hs = layer.seed_state().download();
  const SeedStateView st = hs.view();
  PoolView<double> pv;
  pv.base = pool.data();
  pv.region = L.pool_region;
  pv.slots = L.pool_slots;
  for (int32_t s : {1, 3, 5}) {
    const int32_t kind = st.blueprint[s];
    const int64_t pofs = st.slot[s] * pv.slot_stride();
    const int64_t gofs = pofs + static_cast<int64_t>(PoolRegion::grad) * pv.region;
    auto objective = [&]() {
      double sum = 0.0, delta[kMaxChunk];
      for (int64_t b = 0; b < 3; ++b) {
        blueprint_delta<kMaxChunk, double>(kind, L.shape, pool.data() + pofs,
                                           xv.data() + b * 48 + s * 8, delta);
        for (int c = 0; c < 8; ++c) sum += delta[c] * gv[b * 48 + s * 8 + c];
      }
      return sum;
    };
    EXPECT_NEAR(stats[s * ops::kMorphStepStats + 1], objective(),
                1e-5 * (1 + std::fabs(objective())));
    const std::vector<double> analytic(pool.begin() + gofs, pool.begin() + gofs + pv.region);
    const double gsq = testing::expect_finite_difference_gradient(
        pool, pofs, analytic.data(), blueprint_param_count(kind, L.shape), objective,
        "seed " + std::to_string(s));
    EXPECT_GT(gsq, 0.0) << "seed " << s;
  }
}

TEST(TaskObjective, TheGateOpensOnTheEstimatedGain) {
  HostSeedState h = SeedState::initial_host_state(1);
  SeedStateView v = h.view();
  v.stage[0] = static_cast<int32_t>(Stage::training);
  v.iso_loss_ema[0] = -1.0f;
  LifecycleParams lp;
  lp.training_objective = static_cast<int32_t>(TrainingObjective::task_gradient);
  lp.training_gain_threshold = 0.05f;
  lp.training_gain_z = 0.0f;  // the EMA alone (its noise test: below)
  lp.min_steps[static_cast<int32_t>(Stage::training)] = 2;
  lp.ema_decay = 0.5f;
  SeedMeasurements m;
  m.stats_fresh = true;
  m.iso_loss = 0.2f;  // the seed would raise the loss: no graft
  EXPECT_LT(advance_seed(v, 0, lp, GraftingParams{}, m).to, 0);
  EXPECT_EQ(v.iso_loss_ema[0], 0.2f);  // the first measurement starts the EMA (it may be < 0)
  m.iso_loss = -0.4f;                  // EMA 0.5 * 0.2 - 0.5 * 0.4 = -0.1: gain 0.1 > 0.05
  const TransitionDecision d = advance_seed(v, 0, lp, GraftingParams{}, m);
  EXPECT_FLOAT_EQ(v.iso_loss_ema[0], -0.1f);
  EXPECT_EQ(d.to, static_cast<int32_t>(Stage::grafting));
  EXPECT_EQ(d.reason, static_cast<int32_t>(Reason::loss_gate));
  // A gain under the threshold keeps it in TRAINING.
  v.stage[0] = static_cast<int32_t>(Stage::training);
  v.steps_in_stage[0] = 5;
  v.iso_loss_ema[0] = -0.04f;
  m.iso_loss = -0.04f;
  EXPECT_LT(advance_seed(v, 0, lp, GraftingParams{}, m).to, 0);
}

// Feeds the per-step measurements `m` to one TRAINING seed; returns the step (1-based) at which
// the gate opened, 0 if it stayed closed.
int gate_step(const std::vector<float>& m, float z, float* se_at_end = nullptr) {
  HostSeedState h = SeedState::initial_host_state(1);
  SeedStateView v = h.view();
  v.stage[0] = static_cast<int32_t>(Stage::training);
  LifecycleParams lp;
  lp.training_objective = static_cast<int32_t>(TrainingObjective::task_gradient);
  lp.training_gain_threshold = 0.0f;
  lp.training_gain_z = z;
  lp.min_steps[static_cast<int32_t>(Stage::training)] = 1;
  lp.max_training_steps = 100000;
  lp.ema_decay = 0.9f;
  SeedMeasurements sm;
  sm.stats_fresh = true;
  for (size_t i = 0; i < m.size(); ++i) {
    sm.iso_loss = m[i];
    if (advance_seed(v, 0, lp, GraftingParams{}, sm).to == static_cast<int32_t>(Stage::grafting))
      return static_cast<int>(i + 1);
  }
  if (se_at_end) *se_at_end = training_gain_se(v, 0, lp);
  return 0;
}

// Per-step measurements sum <delta, dy>: mean `mean` plus noise +-`noise` in a fixed pattern.
std::vector<float> measurements(int n, float mean, float noise) {
  std::vector<float> m(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) m[static_cast<size_t>(i)] = mean + (i % 3 == 1 ? noise : -noise / 2);
  return m;
}

TEST(TaskObjective, TheGainMustStandAboveItsNoise) {
  // Pure noise (mean 0, +-0.1): the EMA alone opens the gate at the first negative measurement;
  // with z = 2 it never opens in 300 steps.
  const std::vector<float> noise = measurements(300, 0.0f, 0.1f);
  EXPECT_EQ(gate_step(noise, 0.0f), 1);
  float se = 0.0f;
  EXPECT_EQ(gate_step(noise, 2.0f, &se), 0);
  // The EMA's standard error of that pattern: its spread (sd 0.0707) times sqrt(W2), W2 ->
  // (1 - 0.9) / (1 + 0.9).
  EXPECT_NEAR(se, 0.0707f * std::sqrt(0.1f / 1.9f), 0.004f);
  // A clear gain (mean -0.05 with the same noise) opens it within a few steps, later than
  // without the test: one measurement is no estimate of the noise.
  const std::vector<float> gain = measurements(300, -0.05f, 0.1f);
  EXPECT_EQ(gate_step(gain, 0.0f), 1);
  const int at = gate_step(gain, 2.0f);
  EXPECT_GT(at, 2);
  EXPECT_LT(at, 60);
  // Without noise the estimate is 0 from the second measurement on.
  EXPECT_EQ(gate_step(std::vector<float>(10, -0.01f), 2.0f), 2);
}

}  // namespace
}  // namespace kasmina::morph
