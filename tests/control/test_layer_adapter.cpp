// The layer adapter end to end on a CPU KasminaLayer: a controller's command travels over the
// bus to the layer, the layer's events and telemetry travel back to the controller.
#include <gtest/gtest.h>

#include "control/controller.hpp"
#include "control/layer_adapter.hpp"
#include "control/schedule_policy.hpp"
#include "ops/ops.hpp"

namespace kasmina::control {
namespace {

using morph::BlueprintKind;
using morph::Stage;

morph::MorphConfig layer_config(int32_t index) {
  morph::MorphConfig c;
  c.width = 64;
  c.seeds = 4;
  c.layer_index = index;
  c.pool_slots = 4;
  c.telemetry_every = 2;
  c.allowed_blueprints = {BlueprintKind::low_rank, BlueprintKind::diag_scale};
  c.rank = 3;
  return c;
}

TEST(LayerAdapter, DescribesTheLayers) {
  morph::KasminaLayer a(layer_config(0)), b(layer_config(1));
  const std::vector<LayerObservation> d = LayerAdapter::describe({&a, &b});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[1].layer, 1);
  EXPECT_EQ(d[0].seeds.size(), 4u);
  EXPECT_EQ(d[0].shape.chunk, 16);
  EXPECT_EQ(d[0].shape.rank, 3);
  EXPECT_EQ(d[0].allowed,
            (std::vector<BlueprintKind>{BlueprintKind::low_rank, BlueprintKind::diag_scale}));
}

TEST(LayerAdapter, CommandsReachTheLayerAndEventsAndTelemetryComeBack) {
  morph::KasminaLayer layer(layer_config(0));
  layer.prepare(2, Device::cpu());
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64);
  ctx.seed = 3;
  EventBus bus;
  LayerAdapter adapter(bus, {&layer});
  std::vector<morph::ScheduledGermination> plan = {{0, 0, 1, BlueprintKind::diag_scale},
                                                   {0, 7, 2, BlueprintKind::low_rank}};
  Controller controller(bus, std::make_unique<SchedulePolicy>(plan),
                        LayerAdapter::describe({&layer}));

  EXPECT_EQ(controller.decide(0, 0), 2u);
  bus.dispatch();
  EXPECT_EQ(adapter.commands_applied(), 1);  // the second names no layer: an alert
  EXPECT_EQ(layer.queued_commands(), 1u);    // layer index 7 does not exist
  EXPECT_EQ(bus.stats(Topic::alerts).delivered, 1);

  layer.end_step(ctx);  // boundary 1: the germination is applied
  EXPECT_EQ(adapter.publish_telemetry(0), 0u);
  EXPECT_EQ(adapter.drain_and_publish(0), 1u);
  bus.dispatch();
  EXPECT_EQ(controller.observation().layers[0].seeds[1].stage, Stage::germinated);
  EXPECT_EQ(controller.observation().layers[0].seeds[1].blueprint,
            static_cast<int32_t>(BlueprintKind::diag_scale));

  ops::counter_add(ctx.step, 1);
  layer.end_step(ctx);  // boundary 2: telemetry read; GERMINATED -> TRAINING
  EXPECT_EQ(adapter.publish_telemetry(1), 1u);
  adapter.drain_and_publish(1);
  bus.dispatch();
  const SeedObservation& so = controller.observation().layers[0].seeds[1];
  EXPECT_TRUE(so.has_telemetry);
  EXPECT_EQ(so.stage, Stage::training);
  EXPECT_EQ(controller.observation().active_seeds, 1);
  EXPECT_EQ(controller.observation().added_parameters, 2 * 16);

  // Every message the bus delivered is in its log, in order.
  const std::vector<MessageRecord>& log = bus.log();
  std::vector<std::string> kinds;
  for (const MessageRecord& r : log) kinds.push_back(r.topic + "/" + r.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"commands/germinate", "commands/germinate",
                                             "alerts/alert:queue_refused", "lifecycle/event",
                                             "telemetry/health", "lifecycle/event"}));
  EXPECT_NE(log[3].text.find("layer 0 seed 1 DORMANT -> GERMINATED"), std::string::npos)
      << log[3].text;
  EXPECT_NE(log[5].text.find("GERMINATED -> TRAINING"), std::string::npos) << log[5].text;
}

}  // namespace
}  // namespace kasmina::control
