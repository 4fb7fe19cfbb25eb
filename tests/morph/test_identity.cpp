// All seeds dormant: the layer is the exact identity, forward and backward, on the fast path
// and on the statistics path.
#include <gtest/gtest.h>

#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

using testing::bitwise_equal;
using testing::random_tensor;

TEST(MorphIdentity, DormantFastPathAliasesInputAndCopiesGradient) {
  KasminaLayer layer(testing::small_config(64, 8));
  layer.prepare(32, Device::cpu());
  testing::StepClock clock(Device::cpu());
  const Tensor x = random_tensor<float>({32, 64}, 11);
  const Tensor y = layer.forward(x, Mode::train, clock.ctx);
  EXPECT_TRUE(layer.last_forward_was_identity());
  EXPECT_EQ(y.raw(), x.raw());
  const Tensor dy = random_tensor<float>({32, 64}, 12);
  Tensor dx = Tensor::zeros({32, 64});
  layer.backward(dy, &dx, clock.ctx);
  EXPECT_TRUE(bitwise_equal(dx, dy));
}

TEST(MorphIdentity, DormantStatisticsPathIsBitwiseIdentity) {
  MorphConfig cfg = testing::small_config(96, 8);  // C = 12
  cfg.telemetry_every = 1;                         // statistics due every step
  KasminaLayer layer(cfg);
  layer.prepare(17, Device::cpu());
  testing::StepClock clock(Device::cpu());
  const Tensor x = random_tensor<float>({17, 96}, 21);
  const Tensor y = layer.forward(x, Mode::train, clock.ctx);
  EXPECT_FALSE(layer.last_forward_was_identity());
  EXPECT_NE(y.raw(), x.raw());
  EXPECT_TRUE(bitwise_equal(y, x));
  const Tensor dy = random_tensor<float>({17, 96}, 22);
  Tensor dx = Tensor::zeros({17, 96});
  layer.backward(dy, &dx, clock.ctx);
  EXPECT_TRUE(bitwise_equal(dx, dy));
  layer.end_step(clock.ctx);
  // Statistics of the input were gathered: compare with a direct computation for seed 3.
  const std::vector<SeedTelemetry>& t = layer.last_telemetry();
  ASSERT_EQ(t.size(), 8u);
  const std::vector<float> xv = x.to_vector<float>();
  double sum = 0, sq = 0, mx = 0;
  for (int b = 0; b < 17; ++b)
    for (int c = 0; c < 12; ++c) {
      const double v = xv[b * 96 + 3 * 12 + c];
      sum += v;
      sq += v * v;
      mx = std::max(mx, std::fabs(v));
    }
  EXPECT_EQ(t[3].samples, 17.0 * 12);
  EXPECT_NEAR(t[3].mean, sum / 204, 1e-9);
  EXPECT_NEAR(t[3].variance, sq / 204 - (sum / 204) * (sum / 204), 1e-9);
  EXPECT_EQ(t[3].max_abs, mx);
  EXPECT_EQ(t[3].dead_fraction, 0.0);
}

TEST(MorphIdentity, ExplicitDormantStatePathIsIdentityInDouble) {
  KasminaLayer layer(testing::small_config(32, 4), DType::f64);
  layer.prepare(5, Device::cpu());
  // Seeds in exit stages and GERMINATED are also the identity on the full path.
  testing::arrange(
      layer,
      {{0, Stage::culled}, {1, Stage::cancelled}, {2, Stage::rolled_back}, {3, Stage::germinated}});
  testing::StepClock clock(Device::cpu());
  const Tensor x = random_tensor<double>({5, 32}, 31);
  const Tensor y = layer.forward(x, Mode::train, clock.ctx);
  EXPECT_FALSE(layer.last_forward_was_identity());
  EXPECT_TRUE(bitwise_equal(y, x));
  const Tensor dy = random_tensor<double>({5, 32}, 32);
  Tensor dx = Tensor::zeros({5, 32}, DType::f64);
  layer.backward(dy, &dx, clock.ctx);
  EXPECT_TRUE(bitwise_equal(dx, dy));
}

TEST(MorphIdentity, WidthNotDivisibleBySeedsIsUserError) {
  MorphConfig cfg = testing::small_config(30, 4);
  EXPECT_THROW(KasminaLayer{cfg}, UserError);
  try {
    KasminaLayer l(cfg);
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("'seeds'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("divisor"), std::string::npos);
  }
}

}  // namespace
}  // namespace kasmina::morph
