// Width seeds under the controller on synthetic telemetry: the heuristic policy asks for a width
// step when a fresh width report's ratio reaches grad_trigger_ratio inside the germination
// window, or on a plateau that germinated no seed; one step per report; none past grow_epochs;
// and a saved controller decides as the original.
#include <gtest/gtest.h>

#include "tests/control/control_test_rig.hpp"

namespace kasmina::control {
namespace {

using testing::Rig;

// The width-growing linear layer at config position 5: 8 of 32 units, steps of 8.
WidthObservation width_layer() {
  return {.layer = 5, .width = 32, .chunk = 8, .active = 8, .steps_total = 3, .report = {}};
}

struct WidthRig : Rig {
  explicit WidthRig(double trigger = 1.5) : Rig(config(trigger)) {
    controller->set_total_steps(1000);
    controller->set_width_layers({width_layer()});
  }
  static ControllerConfig config(double trigger) {
    ControllerConfig c = testing::heuristic_config();
    c.seed_choice = "gradient";
    c.grad_trigger_ratio = trigger;
    c.germination_window = 0.5;
    return c;
  }
  void report(int64_t step, double ratio) {
    const WidthObservation& w = controller->observation().widths.at(0);
    bus.publish(step, WidthReport{.layer = 5,
                                  .active = w.active,
                                  .width = 32,
                                  .steps_done = w.steps_done,
                                  .steps_total = 3,
                                  .new_units = 0.02 * ratio,
                                  .active_units = 0.02,
                                  .ratio = ratio});
  }
  // The width adapter's answer to a grow_width command.
  void grown(int64_t step, int32_t index) {
    event(step, 5, index, morph::Stage::dormant, morph::Stage::fossilized,
          morph::Reason::width_grown, morph::BlueprintKind::residual_mlp, 1.6f);
    bus.dispatch();
  }
};

TEST(WidthPolicy, GradientTriggerAsksForOneStepPerFreshReport) {
  WidthRig rig;
  EXPECT_TRUE(rig.decide(10).empty());  // no report yet
  rig.report(10, 1.4);
  EXPECT_TRUE(rig.decide(11).empty());  // below the trigger
  rig.report(20, 1.6);
  const std::vector<Command> cmds = rig.decide(21);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].kind, CommandKind::grow_width);
  EXPECT_EQ(cmds[0].layer, 5);
  EXPECT_EQ(cmds[0].seed, 0);
  EXPECT_FLOAT_EQ(cmds[0].value, 1.6f);
  EXPECT_NE(cmds[0].reason.find("gradient: ratio at least 1.5; width ratio 1.6000 (new units "
                                "0.032, active units 0.02)"),
            std::string::npos)
      << cmds[0].reason;
  EXPECT_TRUE(rig.decide(22).empty());  // the report is consumed by its command
  rig.grown(21, 0);
  const WidthObservation& w = rig.controller->observation().widths.at(0);
  EXPECT_EQ(w.steps_done, 1);
  EXPECT_EQ(w.active, 16);
  EXPECT_FALSE(w.fresh);
  EXPECT_TRUE(rig.decide(23).empty());
}

TEST(WidthPolicy, NoStepOutsideTheWindowOrPastGrowEpochs) {
  WidthRig rig;
  rig.report(500, 3.0);  // 500 of 1000 steps: the window (0.5) is closed
  EXPECT_TRUE(rig.decide(500).empty());
  WidthRig full;
  for (int32_t k = 0; k < 3; ++k) {
    full.report(10 * k, 2.0);
    ASSERT_EQ(full.decide(10 * k + 1).size(), 1u) << k;
    full.grown(10 * k + 1, k);
  }
  full.report(40, 2.0);  // 32 of 32 units: nothing left
  // A report measured before the layer's latest step (steps_done 0 after step 0) is stale.
  WidthRig stale;
  stale.grown(9, 0);
  stale.bus.publish(
      10, WidthReport{.layer = 5, .active = 8, .width = 32, .steps_total = 3, .ratio = 2.0});
  EXPECT_TRUE(stale.decide(11).empty());
  EXPECT_EQ(stale.controller->observation().widths.at(0).steps_done, 1);
  EXPECT_TRUE(full.decide(41).empty());
  EXPECT_FALSE(full.controller->observation().widths.at(0).can_grow());
}

TEST(WidthPolicy, APlateauWithoutSeedsToGerminateGrowsTheWidth) {
  WidthRig rig(0.0);  // plateau only
  rig.validation(100, 0.50);
  EXPECT_TRUE(rig.decide(100).empty());
  for (int64_t s = 200; s <= 400; s += 100) rig.validation(s, 0.50);
  const std::vector<Command> cmds = rig.decide(400);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].kind, CommandKind::grow_width);
  EXPECT_EQ(cmds[0].value, 0.0f);
  EXPECT_NE(cmds[0].reason.find("plateau: 3 measurements without improvement"), std::string::npos)
      << cmds[0].reason;
  EXPECT_NE(cmds[0].reason.find("width not measured since its last step"), std::string::npos);
  EXPECT_EQ(rig.heuristic->since_improvement(), 0);  // the counter restarts
}

TEST(WidthPolicy, RestoredControllerDecidesAsTheSavedOne) {
  WidthRig a;
  a.report(10, 1.2);
  a.decide(11);
  a.report(20, 1.7);
  a.bus.dispatch();
  WidthRig b;
  b.controller->restore(a.controller->save());
  const WidthObservation& wa = a.controller->observation().widths.at(0);
  const WidthObservation& wb = b.controller->observation().widths.at(0);
  EXPECT_EQ(wb.fresh, wa.fresh);
  EXPECT_EQ(wb.report.ratio, wa.report.ratio);
  EXPECT_EQ(wb.report.new_units, wa.report.new_units);
  const std::vector<Command> ca = a.decide(21), cb = b.decide(21);
  ASSERT_EQ(ca.size(), 1u);
  ASSERT_EQ(cb.size(), 1u);
  EXPECT_EQ(ca[0].reason, cb[0].reason);
  EXPECT_EQ(ca[0].value, cb[0].value);
}

}  // namespace
}  // namespace kasmina::control
