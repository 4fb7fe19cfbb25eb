// Zero training corruption: seeds that are GERMINATED or TRAINING leave the host network's
// output and input gradient bitwise untouched, while TRAINING blueprints still learn.
#include <gtest/gtest.h>

#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

using testing::bitwise_equal;
using testing::random_tensor;

TEST(MorphZeroCorruption, TrainingSeedsDoNotTouchOutputOrGradient) {
  MorphConfig cfg = testing::small_config(128, 8);  // C = 16
  cfg.lifecycle.max_training_seeds = 3;             // the GERMINATED seed waits for a training slot
  KasminaLayer dormant(cfg), growing(cfg);
  dormant.prepare(64, Device::cpu());
  growing.prepare(64, Device::cpu());
  // Parameters jittered away from the zero-delta initial values (as after some learning), so the
  // reconstruction objective has something to do.
  testing::arrange(growing,
                   {{1, Stage::training, BlueprintKind::residual_mlp},
                    {2, Stage::germinated, BlueprintKind::low_rank},
                    {5, Stage::training, BlueprintKind::low_rank},
                    {6, Stage::training, BlueprintKind::residual_mlp}},
                   7, /*jitter=*/0.3);
  testing::StepClock clock(Device::cpu());
  const std::vector<float> before = testing::pool_values<float>(growing);
  for (int step = 0; step < 3; ++step) {
    clock.set(step);
    const Tensor x = random_tensor<float>({64, 128}, 100 + step);
    const Tensor dy = random_tensor<float>({64, 128}, 200 + step);
    const Tensor y0 = dormant.forward(x, Mode::train, clock.ctx);
    const Tensor y1 = growing.forward(x, Mode::train, clock.ctx);
    EXPECT_FALSE(growing.last_forward_was_identity());
    EXPECT_TRUE(bitwise_equal(y0, y1)) << "step " << step;
    Tensor dx0 = Tensor::zeros({64, 128}), dx1 = Tensor::zeros({64, 128});
    dormant.backward(dy, &dx0, clock.ctx);
    growing.backward(dy, &dx1, clock.ctx);
    EXPECT_TRUE(bitwise_equal(dx0, dx1)) << "step " << step;
    EXPECT_TRUE(bitwise_equal(dx1, dy));
    dormant.end_step(clock.ctx);
    growing.end_step(clock.ctx);
  }
  // The TRAINING blueprints' parameters moved; the GERMINATED one's did not.
  const std::vector<float> after = testing::pool_values<float>(growing);
  const ops::MorphLayerBuffers& L = growing.buffers();
  const int64_t stride = static_cast<int64_t>(L.pool_region) * kPoolRegionCount;
  auto changed = [&](int32_t slot, BlueprintKind k) {
    int32_t n = blueprint_param_count(static_cast<int32_t>(k), L.shape), moved = 0;
    for (int32_t i = 0; i < n; ++i) moved += before[slot * stride + i] != after[slot * stride + i];
    return moved;
  };
  EXPECT_GT(changed(0, BlueprintKind::residual_mlp), 0);  // seed 1
  EXPECT_EQ(changed(1, BlueprintKind::low_rank), 0);      // seed 2 (germinated, waiting)
  EXPECT_GT(changed(2, BlueprintKind::low_rank), 0);      // seed 5
  EXPECT_GT(changed(3, BlueprintKind::residual_mlp), 0);  // seed 6
  // The isolated loss was measured for TRAINING seeds.
  HostSeedState h = growing.seed_state().download();
  EXPECT_GT(h.view().iso_loss_ema[1], 0.0f);
  EXPECT_EQ(h.view().opt_step[1], 3);
  EXPECT_EQ(h.view().opt_step[2], 0);
}

TEST(MorphZeroCorruption, IsolatedTrainingLowersReconstructionLoss) {
  MorphConfig cfg = testing::small_config(64, 4);
  cfg.optimizer.lr = 1e-2f;
  cfg.lifecycle.min_steps[static_cast<int32_t>(Stage::training)] = 1000000;  // stay in TRAINING
  cfg.lifecycle.max_training_steps = 1000000;
  KasminaLayer layer(cfg);
  layer.prepare(32, Device::cpu());
  testing::arrange(layer, {{2, Stage::training, BlueprintKind::residual_mlp}}, 7, /*jitter=*/0.3);
  testing::StepClock clock(Device::cpu());
  float first = -1.0f, last = -1.0f;
  for (int step = 0; step < 60; ++step) {
    const Tensor x = random_tensor<float>({32, 64}, 500 + step);
    layer.forward(x, Mode::train, clock.ctx);
    Tensor dx = Tensor::zeros({32, 64});
    layer.backward(random_tensor<float>({32, 64}, 900 + step), &dx, clock.ctx);
    const float iso = layer.buffers().step_stats.to_vector<float>()[2 * ops::kMorphStepStats + 1];
    if (step == 0) first = iso;
    last = iso;
    layer.end_step(clock.ctx);
  }
  EXPECT_GT(first, 0.0f);
  EXPECT_LT(last, 0.2f * first);
}

}  // namespace
}  // namespace kasmina::morph
