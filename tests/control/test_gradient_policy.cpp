// The heuristic policy's gradient-guided growth on synthetic telemetry: seed choice by the
// chunks' gradient score relative to their layer, the gradient trigger without a plateau, the
// germination window, and the health option.
#include <gtest/gtest.h>

#include "tests/control/control_test_rig.hpp"

namespace kasmina::control {
namespace {

using morph::BlueprintKind;
using morph::Stage;
using testing::Rig;
using testing::seed_stats;

ControllerConfig gradient_config(double trigger = 1.5) {
  ControllerConfig c = testing::heuristic_config();
  c.seed_choice = "gradient";
  c.grad_trigger_ratio = trigger;
  c.germination_window = 0.5;
  return c;
}

// Health reports whose chunks have gradient scores `l0` (layer 0) and `l1` (layer 1); seed 3 of
// layer 0 has the worst health (dead 0.9).
void scores(Rig& rig, int64_t step, std::vector<double> l0, std::vector<double> l1) {
  std::vector<std::pair<int32_t, morph::SeedTelemetry>> special;
  for (int32_t layer = 0; layer < 2; ++layer) {
    const std::vector<double>& v = layer == 0 ? l0 : l1;
    for (int32_t s = 0; s < 4; ++s) {
      morph::SeedTelemetry t = seed_stats(s, layer == 0 && s == 3 ? 0.9 : 0.0, 1.0);
      t.grad_score = v[static_cast<size_t>(s)];
      special.push_back({layer, t});
    }
  }
  rig.health(step, special);
}

TEST(GradientPolicy, TriggersWithoutAPlateauOnTheHighestRatio) {
  Rig rig(gradient_config());
  rig.controller->set_total_steps(1000);
  // Layer 0 mean 2.5: seed 1 at 4.0 (ratio 1.6); layer 1 mean 1.0: seed 2 at 1.4 (ratio 1.4).
  scores(rig, 10, {2.0, 4.0, 2.0, 2.0}, {0.8, 0.8, 1.4, 1.0});
  const std::vector<Command> cmds = rig.decide(10);  // no validation measurement at all
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].kind, CommandKind::germinate);
  EXPECT_EQ(cmds[0].layer, 0);
  EXPECT_EQ(cmds[0].seed, 1);  // not seed 3, the worst health
  EXPECT_EQ(cmds[0].blueprint, BlueprintKind::residual_mlp);
  EXPECT_NE(cmds[0].reason.find("gradient: ratio at least 1.5; gradient ratio 1.6000"),
            std::string::npos)
      << cmds[0].reason;
  // Next decision: seed 1 counts as germinated; the best dormant ratio left is 1.4 < 1.5.
  EXPECT_TRUE(rig.decide(11).empty());
  // A lower trigger takes layer 1's seed 2 next.
  Rig low(gradient_config(1.3));
  low.controller->set_total_steps(1000);
  scores(low, 10, {2.0, 4.0, 2.0, 2.0}, {0.8, 0.8, 1.4, 1.0});
  ASSERT_EQ(low.decide(10).size(), 1u);
  const std::vector<Command> second = low.decide(11);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].layer, 1);
  EXPECT_EQ(second[0].seed, 2);
}

TEST(GradientPolicy, BelowTheTriggerOnlyAPlateauGerminatesByGradient) {
  Rig rig(gradient_config());
  scores(rig, 10, {1.0, 1.2, 1.0, 0.8}, {1.0, 1.0, 1.0, 1.0});  // best ratio 1.2
  for (int64_t step : {100, 200, 300}) {
    rig.validation(step, 1.0);
    EXPECT_TRUE(rig.decide(step).empty()) << step;
  }
  rig.validation(400, 1.0);  // the third flat measurement: a plateau
  const std::vector<Command> cmds = rig.decide(400);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].layer, 0);
  EXPECT_EQ(cmds[0].seed, 1);
  EXPECT_NE(cmds[0].reason.find("plateau: 3 measurements"), std::string::npos) << cmds[0].reason;
}

TEST(GradientPolicy, NothingGerminatesAfterTheWindow) {
  Rig rig(gradient_config());
  rig.controller->set_total_steps(1000);  // window: steps 0..499
  scores(rig, 10, {1.0, 9.0, 1.0, 1.0}, {1.0, 1.0, 1.0, 1.0});
  for (int64_t step : {100, 200, 300, 400}) rig.validation(step, 1.0);
  EXPECT_TRUE(rig.decide(500).empty());  // a plateau and a ratio of 2.25, but too late
  EXPECT_EQ(rig.heuristic->since_improvement(), 3);
  EXPECT_EQ(rig.decide(499).size(), 1u);  // (decisions run in step order in a real run)
}

TEST(GradientPolicy, UnmeasuredScoresAreSkippedAndHealthIsTheOption) {
  Rig rig(gradient_config());
  scores(rig, 10, {-1.0, -1.0, -1.0, -1.0}, {-1.0, -1.0, -1.0, -1.0});
  for (int64_t step : {100, 200, 300, 400}) rig.validation(step, 1.0);
  EXPECT_TRUE(rig.decide(400).empty());  // a plateau, but no seed has a score
  ControllerConfig health = gradient_config();
  health.seed_choice = "health";
  Rig h(health);
  scores(h, 10, {1.0, 9.0, 1.0, 1.0}, {1.0, 1.0, 1.0, 1.0});
  EXPECT_TRUE(h.decide(10).empty());  // no gradient trigger under health
  for (int64_t step : {100, 200, 300, 400}) h.validation(step, 1.0);
  const std::vector<Command> cmds = h.decide(400);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].seed, 3);  // the worst health
  EXPECT_NE(cmds[0].reason.find("; need "), std::string::npos) << cmds[0].reason;
}

}  // namespace
}  // namespace kasmina::control
