// The gradient score of a kasmina layer's chunks (nn/gradient_score.hpp), measured on the step
// before each telemetry read: against a direct computation, only at the cadence, and selecting a
// step graph of its own; and the blueprint optimizer's learning-rate warm-up.
#include <gtest/gtest.h>

#include <cmath>

#include "morph/morph_adamw.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

TEST(GradientScore, ChunkScoresAreTheRowNormsOfTheOuterProductSummedPerChunk) {
  MorphConfig cfg = testing::small_config(12, 3);  // C = 4
  cfg.telemetry_every = 2;
  KasminaLayer layer(cfg, DType::f64);
  layer.prepare(5, Device::cpu());
  EXPECT_EQ(layer.train_step_key() & 4u, 0u);  // not enabled
  layer.enable_gradient_score();
  testing::StepClock clock(Device::cpu());
  const Tensor x = testing::random_tensor<double>({5, 12}, 3);
  const Tensor dy = testing::random_tensor<double>({5, 12}, 4);
  for (int64_t step = 0; step < 4; ++step) {
    clock.set(step);
    // The score is due on the step before each read (steps 1 and 3): its own step graph.
    EXPECT_EQ((layer.train_step_key() & 4u) != 0, step % 2 == 1) << step;
    layer.forward(step == 3 ? x : testing::random_tensor<double>({5, 12}, 10 + step), Mode::train,
                  clock.ctx);
    Tensor dx = Tensor::zeros({5, 12}, DType::f64);
    layer.backward(step == 3 ? dy : testing::random_tensor<double>({5, 12}, 20 + step), &dx,
                   clock.ctx);
    layer.end_step(clock.ctx);
  }
  // The read at boundary 4 holds step 3's measurement: M = dyᵀ x, seed s: sum over its rows j
  // of ||M_j||.
  const std::vector<double> xv = x.to_vector<double>(), gv = dy.to_vector<double>();
  const std::vector<SeedTelemetry>& t = layer.last_telemetry();
  ASSERT_EQ(t.size(), 3u);
  for (int32_t s = 0; s < 3; ++s) {
    double expected = 0.0;
    for (int j = 4 * s; j < 4 * s + 4; ++j) {
      double sq = 0.0;
      for (int k = 0; k < 12; ++k) {
        double m = 0.0;
        for (int b = 0; b < 5; ++b) m += gv[b * 12 + j] * xv[b * 12 + k];
        sq += m * m;
      }
      expected += std::sqrt(sq);
    }
    EXPECT_NEAR(t[static_cast<size_t>(s)].grad_score, expected, 1e-12 * expected) << s;
    EXPECT_GT(expected, 0.0);
  }
  // A read that had no measurement reports -1.
  EXPECT_EQ(layer.read_telemetry()[0].grad_score, -1.0);
}

TEST(BlueprintWarmup, TheLearningRateRisesOverASeedsFirstSteps) {
  BlueprintOptimizer h;
  h.lr = 0.01f;
  EXPECT_EQ(adamw_constants(h, 1).lr, 0.01f);  // no warm-up: the rate itself, bit for bit
  h.warmup_steps = 4;
  EXPECT_EQ(adamw_constants(h, 1).lr, 0.01f * 0.25f);
  EXPECT_EQ(adamw_constants(h, 2).lr, 0.01f * 0.5f);
  EXPECT_EQ(adamw_constants(h, 4).lr, 0.01f);
  EXPECT_EQ(adamw_constants(h, 100).lr, 0.01f);
  // The first AdamW step moves a parameter by about lr (|m / sqrt(v)| = 1): a quarter of it.
  float p = 1.0f, m = 0.0f, v = 0.0f;
  adamw_update(h, adamw_constants(h, 1), p, m, v, 0.5f);
  EXPECT_NEAR(1.0f - p, 0.0025f, 1e-6f);
}

}  // namespace
}  // namespace kasmina::morph
