// The emergency-rollback path end to end on the CPU, as the trainer drives it: NaN injected at a
// step, the loss guard flags it, the connected layer rolls its grafting seed back at the step
// boundary, and the bus carries the guard's alert and the rollback event + alert.
#include <gtest/gtest.h>

#include <limits>

#include "control/controller.hpp"
#include "control/guard_monitor.hpp"
#include "control/layer_adapter.hpp"
#include "control/schedule_policy.hpp"
#include "ops/ops.hpp"
#include "tests/morph/morph_test_util.hpp"

namespace kasmina::control {
namespace {

using morph::BlueprintKind;
using morph::Stage;

TEST(GuardMonitor, PublishesOneAlertPerPollWithNewFlaggedSteps) {
  EventBus bus;
  ops::LossGuardState guard = ops::make_loss_guard_state(Device::cpu());
  GuardMonitor monitor(bus, guard);
  Tensor sum = Tensor::zeros({1}, DType::f64);
  ops::LossGuardParams p;
  p.warmup_steps = 2;
  auto step = [&](double mean) {
    sum.copy_from(Tensor::from_vector<double>({sum.to_vector<double>()[0] + 4.0 * mean}, {1}));
    ops::loss_guard(sum, 4, p, guard, nullptr);
  };
  step(1.0);
  step(1.0);
  EXPECT_EQ(monitor.poll(2), 0);
  step(std::numeric_limits<double>::quiet_NaN());
  step(1.0);
  step(50.0);
  EXPECT_EQ(monitor.poll(5), 2);
  EXPECT_EQ(monitor.poll(6), 0);
  step(std::numeric_limits<double>::infinity());
  EXPECT_EQ(monitor.poll(7), 1);
  EXPECT_EQ(monitor.flagged_total(), 3);
  bus.dispatch();
  const std::vector<MessageRecord>& log = bus.log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].kind, "alert:loss_spike");
  EXPECT_EQ(log[0].step, 5);
  EXPECT_NE(log[0].text.find("value 50 (2 step(s) flagged"), std::string::npos) << log[0].text;
  EXPECT_EQ(log[1].kind, "alert:non_finite_loss");
  EXPECT_NE(log[1].text.find("value inf"), std::string::npos) << log[1].text;
}

TEST(EmergencyRollback, InjectedNanRollsBackTheGraftingSeedAndIsReportedOnTheBus) {
  morph::MorphConfig cfg = morph::testing::small_config(48, 3, 3);
  cfg.telemetry_every = 1;
  morph::KasminaLayer layer(cfg);
  layer.prepare(4, Device::cpu());
  morph::testing::arrange(layer, {{1, Stage::grafting, BlueprintKind::diag_scale, 0.5f, 3},
                                  {2, Stage::training, BlueprintKind::low_rank, 0.0f, 3}});
  morph::HostSeedState h = layer.seed_state().download();
  h.view().has_snapshot[1] = 1;
  layer.restore_state(h, layer.buffers().slot_owner.to_vector<int32_t>());

  EventBus bus;
  LayerAdapter adapter(bus, {&layer});
  Controller controller(bus, std::make_unique<NullPolicy>(), LayerAdapter::describe({&layer}));
  controller.set_rollback_on_alert(false);  // the device already rolls back
  ops::LossGuardState guard = ops::make_loss_guard_state(Device::cpu());
  GuardMonitor monitor(bus, guard);
  layer.set_loss_alarm(guard.flag);
  ops::LossGuardParams params;
  params.warmup_steps = 2;

  morph::testing::StepClock clock(Device::cpu());
  Tensor loss_sum = Tensor::zeros({1}, DType::f64);
  Tensor dlogits = Tensor::empty({4, 3}, DType::f32);
  const int64_t nan_step = 3;
  for (int64_t step = 0; step < 6; ++step) {
    clock.set(step);
    // What softmax_xent would add and write, then the two guard ops the trainer adds.
    loss_sum.copy_from(
        Tensor::from_vector<double>({loss_sum.to_vector<double>()[0] + 4.0 * 0.7}, {1}));
    ops::fill(dlogits, 0.25);
    ops::inject_nan_at_step(clock.ctx.step, nan_step, loss_sum, &dlogits);
    ops::loss_guard(loss_sum, 4, params, guard, &dlogits);
    for (float g : dlogits.to_vector<float>()) ASSERT_TRUE(std::isfinite(g)) << "step " << step;
    layer.end_step(clock.ctx);
    adapter.publish_telemetry(step);
    adapter.drain_and_publish(step);
    monitor.poll(step);
    bus.dispatch();
    controller.decide(step, 0);
    bus.dispatch();
    if (step < nan_step) {
      EXPECT_EQ(controller.observation().layers[0].seeds[1].stage, Stage::grafting);
    }
  }
  EXPECT_DOUBLE_EQ(loss_sum.to_vector<double>()[0], 5 * 4.0 * 0.7);
  EXPECT_EQ(controller.observation().layers[0].seeds[1].stage, Stage::dormant);
  EXPECT_EQ(controller.observation().layers[0].seeds[2].stage, Stage::training);
  std::vector<std::string> lines;
  for (const MessageRecord& r : bus.log()) {
    if (r.topic == "telemetry") continue;
    lines.push_back(std::to_string(r.step) + " " + r.kind + " " + r.text);
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].rfind("3 event layer 0 seed 1 GRAFTING -> ROLLED_BACK loss_alarm 1", 0), 0u)
      << lines[0];
  EXPECT_EQ(lines[1].rfind("3 alert:rollback layer 0 seed 1 value 1 (seed rolled back to its "
                           "pre-graft state: loss_alarm)",
                           0),
            0u)
      << lines[1];
  EXPECT_EQ(
      lines[2].rfind("3 alert:non_finite_loss layer -1 seed -1 value nan (1 step(s) flagged", 0),
      0u)
      << lines[2];
  EXPECT_EQ(lines[3].rfind("4 event layer 0 seed 1 ROLLED_BACK -> DORMANT released", 0), 0u)
      << lines[3];
}

TEST(Controller, HostSideRollbackOnAlertCanBeTurnedOff) {
  for (bool on : {true, false}) {
    EventBus bus;
    std::vector<LayerObservation> layers(1);
    layers[0].seeds.resize(2);
    Controller c(bus, std::make_unique<NullPolicy>(), layers);
    c.set_rollback_on_alert(on);
    HealthReport h;
    h.layer = 0;
    morph::SeedTelemetry t;
    t.seed = 1;
    t.stage = Stage::fine_tuning;
    h.seeds.push_back(t);
    bus.publish(0, h);
    Alert a;
    a.kind = AlertKind::loss_spike;
    bus.publish(0, a);
    bus.dispatch();
    EXPECT_EQ(bus.stats(Topic::commands).delivered, on ? 1 : 0);
  }
}

}  // namespace
}  // namespace kasmina::control
