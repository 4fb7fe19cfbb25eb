// The event ring (ordering, overflow accounting) and the telemetry cadence of the dormant fast
// path.
#include <gtest/gtest.h>

#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

TEST(MorphEvents, RingOverflowKeepsNewestAndCountsDropped) {
  MorphConfig cfg = testing::small_config(32, 8, /*slots=*/8);
  cfg.event_capacity = 3;
  KasminaLayer layer(cfg);
  layer.prepare(2, Device::cpu());
  testing::StepClock clock(Device::cpu());
  for (int32_t s = 0; s < 5; ++s) layer.germinate(s, BlueprintKind::diag_scale);
  layer.end_step(clock.ctx);
  const std::vector<MorphEvent> ev = layer.drain_events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(layer.dropped_events(), 2);
  EXPECT_EQ(ev[0].seed, 2);
  EXPECT_EQ(ev[1].seed, 3);
  EXPECT_EQ(ev[2].seed, 4);
  EXPECT_TRUE(layer.drain_events().empty());
}

TEST(MorphEvents, CommandsBeyondCapacityWaitForTheNextBoundary) {
  MorphConfig cfg = testing::small_config(32, 8, /*slots=*/8);
  cfg.command_capacity = 2;
  KasminaLayer layer(cfg);
  layer.prepare(2, Device::cpu());
  testing::StepClock clock(Device::cpu());
  for (int32_t s = 0; s < 3; ++s) layer.germinate(s, BlueprintKind::low_rank);
  layer.end_step(clock.ctx);
  EXPECT_EQ(layer.queued_commands(), 1u);
  std::vector<MorphEvent> ev = layer.drain_events();
  ASSERT_EQ(ev.size(), 2u);
  clock.set(1);
  layer.end_step(clock.ctx);
  EXPECT_EQ(layer.queued_commands(), 0u);
  ev = layer.drain_events();
  // Seeds 0 and 1 take training slots (pass B) before the queued germination of seed 2.
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].reason, static_cast<int32_t>(Reason::training_slot));
  EXPECT_EQ(ev[1].reason, static_cast<int32_t>(Reason::training_slot));
  EXPECT_EQ(ev[2].seed, 2);
  EXPECT_EQ(ev[2].to, static_cast<int32_t>(Stage::germinated));
  EXPECT_EQ(ev[2].step, 1);
}

TEST(MorphTelemetry, DormantLayerSamplesOnlyTheStepBeforeEachRead) {
  MorphConfig cfg = testing::small_config(16, 2);
  cfg.telemetry_every = 3;
  cfg.dead_eps = 0.5f;
  KasminaLayer layer(cfg);
  layer.prepare(4, Device::cpu());
  testing::StepClock clock(Device::cpu());
  std::vector<bool> identity;
  Tensor last_x;
  for (int step = 0; step < 6; ++step) {
    last_x = testing::random_tensor<float>({4, 16}, 60 + step);
    layer.forward(last_x, Mode::train, clock.ctx);
    identity.push_back(layer.last_forward_was_identity());
    layer.end_step(clock.ctx);
    if (step < 2) {
      EXPECT_TRUE(layer.last_telemetry().empty());
    }
  }
  EXPECT_EQ(identity, (std::vector<bool>{true, true, false, true, true, false}));
  const std::vector<SeedTelemetry>& t = layer.last_telemetry();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].samples, 4.0 * 8);  // only the sampled step since the previous read
  const std::vector<float> xv = last_x.to_vector<float>();
  int dead = 0;
  for (int b = 0; b < 4; ++b)
    for (int c = 0; c < 8; ++c) dead += std::fabs(xv[b * 16 + 8 + c]) < 0.5f;
  EXPECT_DOUBLE_EQ(t[1].dead_fraction, dead / 32.0);
  EXPECT_EQ(t[1].stage, Stage::dormant);
}

}  // namespace
}  // namespace kasmina::morph
