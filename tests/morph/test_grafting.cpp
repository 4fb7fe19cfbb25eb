// Each grafting strategy's alpha trajectory against a hand-computed sequence, pauses included,
// driven through the lifecycle step of a layer.
#include <gtest/gtest.h>

#include "morph/grafting.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

// Runs `steps` boundaries of a layer whose seed 0 is GRAFTING and returns alpha after each;
// `before(step, state)` may edit the seed's measurements before the boundary.
template <class Edit>
std::vector<float> trajectory(GraftingKind kind, GraftingParams gp, int steps, Edit before) {
  MorphConfig cfg = testing::small_config(16, 2);
  cfg.grafting = kind;
  cfg.grafting_params = gp;
  cfg.lifecycle.min_steps[static_cast<int32_t>(Stage::grafting)] = 1000;  // stay in GRAFTING
  KasminaLayer layer(cfg);
  layer.prepare(1, Device::cpu());
  testing::arrange(layer, {{0, Stage::grafting, BlueprintKind::diag_scale, 0.0f}});
  testing::StepClock clock(Device::cpu());
  std::vector<float> alpha;
  for (int i = 0; i < steps; ++i) {
    HostSeedState h = layer.seed_state().download();
    before(i, h.view());
    layer.seed_state().upload(h);
    layer.end_step(clock.ctx);
    alpha.push_back(layer.seed_state().download().view().alpha[0]);
  }
  return alpha;
}

TEST(MorphGrafting, FixedRampIsLinear) {
  GraftingParams gp;
  gp.ramp_steps = 4;
  const auto a = trajectory(GraftingKind::fixed_ramp, gp, 6, [](int, SeedStateView) {});
  EXPECT_EQ(a, (std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f, 1.0f, 1.0f}));
}

TEST(MorphGrafting, PerformanceLinkedScalesAndPauses) {
  GraftingParams gp;
  gp.ramp_steps = 8;
  gp.performance_gain = 4.0f;
  gp.performance_min_scale = 0.5f;
  gp.performance_max_scale = 2.0f;
  gp.performance_pause_below = 0.0f;
  // improvements: 0 -> scale 1; 0.25 -> 2; 1.0 -> clamp 2; -0.125 -> pause; -0.0 -> 1 ...
  const float imp[] = {0.0f, 0.25f, 1.0f, -0.125f, 0.0f, 0.0f, 0.0f};
  const auto a = trajectory(GraftingKind::performance_linked, gp, 7,
                            [&](int i, SeedStateView v) { v.improvement[0] = imp[i]; });
  // 1/8, +2/8, +2/8, hold, +1/8, +1/8, +1/8 (capped at 1)
  EXPECT_EQ(a, (std::vector<float>{0.125f, 0.375f, 0.625f, 0.625f, 0.75f, 0.875f, 1.0f}));
  // A small negative improvement slows the ramp (scale clamps at min 0.5) when not pausing.
  gp.performance_pause_below = 1.0f;
  const auto b = trajectory(GraftingKind::performance_linked, gp, 2,
                            [&](int, SeedStateView v) { v.improvement[0] = -0.5f; });
  EXPECT_EQ(b, (std::vector<float>{0.0625f, 0.125f}));
}

TEST(MorphGrafting, DriftControlledHoldsWhileDriftHigh) {
  GraftingParams gp;
  gp.ramp_steps = 4;
  gp.drift_threshold = 0.5f;
  const float drift[] = {0.1f, 0.9f, 0.9f, 0.2f, 0.5f, 0.6f, 0.0f};
  const auto a = trajectory(GraftingKind::drift_controlled, gp, 7,
                            [&](int i, SeedStateView v) { v.drift_ema[0] = drift[i]; });
  EXPECT_EQ(a, (std::vector<float>{0.25f, 0.25f, 0.25f, 0.5f, 0.75f, 0.75f, 1.0f}));
}

TEST(MorphGrafting, GradNormGatedAdvancesOnlyInsideBand) {
  GraftingParams gp;
  gp.ramp_steps = 2;
  gp.grad_norm_lo = 0.5f;
  gp.grad_norm_hi = 2.0f;
  const float g[] = {-1.0f, 0.25f, 1.0f, 3.0f, 2.0f};
  const auto a = trajectory(GraftingKind::grad_norm_gated, gp, 5,
                            [&](int i, SeedStateView v) { v.grad_norm_ema[0] = g[i]; });
  EXPECT_EQ(a, (std::vector<float>{0.0f, 0.0f, 0.5f, 0.5f, 1.0f}));
}

TEST(MorphGrafting, PureFunctionsMatchHandValues) {
  GraftingParams gp;
  gp.ramp_steps = 10;
  GraftingContext c;
  c.ramp_steps = 3;
  EXPECT_FLOAT_EQ(grafting_next_alpha(static_cast<int32_t>(GraftingKind::fixed_ramp), gp, c), 0.4f);
  c.drift_ema = 0.2f;
  EXPECT_TRUE(grafting_should_pause(static_cast<int32_t>(GraftingKind::drift_controlled), gp, c));
  c.drift_ema = 0.05f;
  EXPECT_FALSE(grafting_should_pause(static_cast<int32_t>(GraftingKind::drift_controlled), gp, c));
  EXPECT_FALSE(grafting_should_pause(static_cast<int32_t>(GraftingKind::fixed_ramp), gp, c));
}

}  // namespace
}  // namespace kasmina::morph
