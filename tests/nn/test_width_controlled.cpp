// Width seeds under the controller (linear grow_schedule: controller): the gradient score of a
// width step (nn/width_score.hpp) on numbers worked by hand, and the layer's controlled steps:
// no epoch schedule, each step function-preserving (host outputs bitwise unchanged), bounded by
// grow_epochs, counted in the training FLOPs from its step, and the score read without touching
// the network.
#include <gtest/gtest.h>

#include <cmath>

#include "nn/width_score.hpp"
#include "tests/nn/width_net.hpp"

using namespace kasmina;
using namespace kasmina::widthtest;

namespace {

// Batch 2, one input, one active unit of two, one output. Active unit: h = (1, 3), g = (0.5,
// -0.25): |gᵀh| = 0.25, rms(h) = sqrt(5). New unit w = -1, b = 3 (relu): u = (2, 1),
// |gᵀu| = 0.75, rms(u) = sqrt(2.5). Ratio (0.75 / sqrt(2.5)) / (0.25 / sqrt(5)) = 3 sqrt(2).
WidthScoreInputs hand_case() {
  return {.batch = 2,
          .in = 1,
          .width = 2,
          .next_out = 1,
          .active = 1,
          .a = {1.0, 2.0},
          .h = {1.0, 0.0, 3.0, 0.0},
          .g = {0.5, -0.25},
          .w_new = {-1.0},
          .b_new = {3.0},
          .act = ops::Activation::relu};
}

TEST(WidthScore, OutgoingGradientPerUnitOfActivationOnAHandCase) {
  const WidthScore s = width_score(hand_case());
  ASSERT_TRUE(s.valid);
  EXPECT_NEAR(s.active_units, 0.25 / std::sqrt(5.0), 1e-15);
  EXPECT_NEAR(s.new_units, 0.75 / std::sqrt(2.5), 1e-15);
  EXPECT_NEAR(s.ratio, 3.0 * std::sqrt(2.0), 1e-14);
}

TEST(WidthScore, ScaleOfTheUnitsDoesNotCount) {
  // Doubling the new unit's incoming weights and bias (relu: u doubles) leaves the score.
  WidthScoreInputs in = hand_case();
  in.w_new = {-2.0};
  in.b_new = {6.0};
  EXPECT_NEAR(width_score(in).ratio, 3.0 * std::sqrt(2.0), 1e-14);
}

TEST(WidthScore, SilentNewUnitsGiveNoScore) {
  WidthScoreInputs in = hand_case();
  in.b_new = {-10.0};  // relu(-a - 10) = 0 on the batch
  const WidthScore s = width_score(in);
  EXPECT_FALSE(s.valid);
  EXPECT_EQ(s.ratio, 0.0);
}

TEST(WidthControlled, NoEpochScheduleAndEachStepPreservesTheOutputs) {
  for (LayerType act : {LayerType::relu, LayerType::gelu}) {
    Net r(grow_mlp(4, "preserving", act, "controller"));
    ASSERT_TRUE(r.grow->controlled());
    const std::vector<double> before = r.logits();
    r.model.begin_epoch(1, 40);
    r.model.begin_epoch(9, 400);
    EXPECT_EQ(r.grow->active_width(), 4);  // epochs do nothing under the controller
    for (int64_t k = 1; k <= 3; ++k) {
      EXPECT_TRUE(r.grow->grow_step(10 * k));
      EXPECT_EQ(r.grow->active_width(), 4 + 4 * k);
      EXPECT_EQ(r.grow->steps_done(), k);
      EXPECT_TRUE(bitwise_equal(before, r.logits())) << "step " << k;
    }
    EXPECT_FALSE(r.grow->grow_step(50));  // every unit active
    EXPECT_EQ(r.grow->active_width(), kHidden);
  }
}

TEST(WidthControlled, SameUnitsAsTheFixedSchedule) {
  // A controlled step draws the units the fixed schedule would (same stream per group).
  Net fixed(grow_mlp(4));
  Net ctl(grow_mlp(4, "preserving", LayerType::relu, "controller"));
  fixed.model.begin_epoch(1, 40);
  ctl.grow->grow_step(40);
  EXPECT_TRUE(bitwise_equal(fixed.w1(), ctl.w1()));
  EXPECT_TRUE(bitwise_equal(fixed.w2(), ctl.w2()));
}

TEST(WidthControlled, TrainingFlopsCountEachStepFromItsStep) {
  // Steps at 100 and 150 count as the fixed schedule's growth at those steps does.
  Model fixed(grow_mlp(4), kIn, 1, Device::cpu());
  Model ctl(grow_mlp(4, "preserving", LayerType::relu, "controller"), kIn, 1, Device::cpu());
  EXPECT_EQ(fixed.train_flops_per_step(kBatch, 0), ctl.train_flops_per_step(kBatch, 0));
  fixed.begin_epoch(1, 100);
  fixed.begin_epoch(2, 150);
  ctl.width_layers()[0]->grow_step(100);
  ctl.width_layers()[0]->grow_step(150);
  EXPECT_EQ(ctl.counted_train_flops(100), 0.0);
  EXPECT_GT(ctl.counted_train_flops(180), 0.0);
  EXPECT_EQ(ctl.counted_train_flops(180), fixed.counted_train_flops(180));
}

TEST(WidthControlled, ScoreIsReadWithoutTouchingTheNetwork) {
  Net r(grow_mlp(4, "preserving", LayerType::relu, "controller"));
  EXPECT_FALSE(r.grow->measure_score().valid);  // no step yet
  r.backward();
  const std::vector<double> w1 = r.w1(), w2 = r.w2();
  const WidthScore a = r.grow->measure_score();
  const WidthScore b = r.grow->measure_score();
  ASSERT_TRUE(a.valid);
  EXPECT_GT(a.new_units, 0.0);
  EXPECT_GT(a.active_units, 0.0);
  EXPECT_TRUE(std::isfinite(a.ratio));
  EXPECT_EQ(a.ratio, b.ratio);
  EXPECT_TRUE(bitwise_equal(w1, r.w1()));
  EXPECT_TRUE(bitwise_equal(w2, r.w2()));
  // Fully grown: nothing left to score.
  for (int k = 0; k < 3; ++k) r.grow->grow_step(k);
  r.backward();
  EXPECT_FALSE(r.grow->measure_score().valid);
}

}  // namespace
