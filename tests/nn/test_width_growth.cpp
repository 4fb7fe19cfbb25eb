// Width seeds (nn/width_grow_linear.hpp): dormant units are exactly zero and get exactly zero
// gradients, activation leaves the network's outputs bitwise unchanged (preserving) or changes
// them (naive), growth is idempotent, the active network starts with a static network's fan-in,
// training FLOPs count the active width, and the layer refuses what it cannot grow through.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "nn/width_grow_linear.hpp"
#include "tests/common/user_error.hpp"
#include "tests/nn/gradient_check.hpp"
#include "tests/nn/width_net.hpp"

using namespace kasmina;
using kasmina::testing::layer;
using kasmina::testing::user_error_message;
using namespace kasmina::widthtest;

namespace {

// Rows [a, b) of the first layer's weights and columns [a, b) of the second's: all zero?
bool units_zero(Net& r, int64_t a, int64_t b, bool incoming) {
  const std::vector<double> w = incoming ? r.w1() : r.w2();
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t unit =
        incoming ? static_cast<int64_t>(i) / kIn : static_cast<int64_t>(i) % kHidden;
    if (unit >= a && unit < b && w[i] != 0.0) return false;
  }
  return true;
}

TEST(WidthGrowth, DormantUnitsAreZeroAndGetZeroGradients) {
  Net r(grow_mlp(4));
  ASSERT_NE(r.grow, nullptr);
  EXPECT_EQ(r.grow->active_width(), 4);
  EXPECT_TRUE(units_zero(r, 4, kHidden, true));
  EXPECT_TRUE(units_zero(r, 4, kHidden, false));
  EXPECT_FALSE(units_zero(r, 0, 4, true));
  r.backward();
  const auto ps = r.model.parameters();
  const std::vector<double> g1 = ps[0]->grad.to_vector<double>(),
                            gb = ps[1]->grad.to_vector<double>(),
                            g2 = ps[2]->grad.to_vector<double>();
  double active_grad = 0.0;
  for (size_t i = 0; i < g1.size(); ++i) {
    if (static_cast<int64_t>(i) / kIn >= 4)
      EXPECT_EQ(g1[i], 0.0) << i;
    else
      active_grad += std::fabs(g1[i]);
  }
  for (int64_t j = 4; j < kHidden; ++j) EXPECT_EQ(gb[static_cast<size_t>(j)], 0.0) << j;
  for (size_t i = 0; i < g2.size(); ++i)
    if (static_cast<int64_t>(i) % kHidden >= 4) {
      EXPECT_EQ(g2[i], 0.0) << i;
    }
  EXPECT_GT(active_grad, 0.0);
}

TEST(WidthGrowth, PreservingActivationLeavesTheOutputsBitwiseEqual) {
  for (LayerType act : {LayerType::relu, LayerType::gelu}) {
    Net r(grow_mlp(4, "preserving", act));
    const std::vector<double> before = r.logits();
    r.model.begin_epoch(0, 0);  // before grow_first_epoch: nothing
    EXPECT_EQ(r.grow->active_width(), 4);
    r.model.begin_epoch(1, 40);
    EXPECT_EQ(r.grow->active_width(), 8);
    EXPECT_FALSE(units_zero(r, 4, 8, true));  // random incoming weights
    EXPECT_TRUE(units_zero(r, 4, kHidden, false));
    EXPECT_TRUE(bitwise_equal(before, r.logits()));
    // The new units' outgoing weights learn from the next gradient.
    r.backward();
    const std::vector<double> g2 = r.model.parameters()[2]->grad.to_vector<double>();
    double new_grad = 0.0;
    for (size_t i = 0; i < g2.size(); ++i)
      if (static_cast<int64_t>(i) % kHidden >= 4 && static_cast<int64_t>(i) % kHidden < 8)
        new_grad += std::fabs(g2[i]);
    EXPECT_GT(new_grad, 0.0);
    // Idempotent (a resumed run calls it again), then the last two steps at once.
    const std::vector<double> w = r.w1();
    r.model.begin_epoch(1, 40);
    EXPECT_TRUE(bitwise_equal(w, r.w1()));
    r.model.begin_epoch(5, 200);
    EXPECT_EQ(r.grow->active_width(), kHidden);
    EXPECT_TRUE(bitwise_equal(before, r.logits()));
  }
}

TEST(WidthGrowth, NaiveActivationChangesTheOutputs) {
  Net r(grow_mlp(4, "naive"));
  const std::vector<double> before = r.logits();
  r.model.begin_epoch(1, 40);
  EXPECT_FALSE(units_zero(r, 4, 8, false));
  EXPECT_TRUE(units_zero(r, 8, kHidden, false));
  EXPECT_FALSE(bitwise_equal(before, r.logits()));
}

TEST(WidthGrowth, NextLayerStartsWithTheFanInOfTheActiveWidth) {
  // Kaiming-uniform bounds: 1/sqrt(16) before the rescale, 1/sqrt(4) after it.
  Net r(grow_mlp(4));
  Model plain(grow_mlp(0), kIn, 11, Device::cpu(), DType::f64);
  const std::vector<double> w2 = r.w2(), p2 = plain.parameters()[2]->value.to_vector<double>();
  for (size_t i = 0; i < w2.size(); ++i)
    if (static_cast<int64_t>(i) % kHidden < 4) {
      EXPECT_NEAR(w2[i], 2.0 * p2[i], 1e-15) << i;
    }
}

TEST(WidthGrowth, TrainingFlopsCountTheActiveWidth) {
  auto static_flops = [](int64_t h) {
    ModelConfig cfg;
    cfg.layers = {layer(LayerType::linear, h), layer(LayerType::relu),
                  layer(LayerType::linear, kClasses)};
    Model m(cfg, kIn, 1, Device::cpu());
    return m.train_flops_per_step(kBatch, 0);
  };
  Model m(grow_mlp(4), kIn, 1, Device::cpu());
  EXPECT_DOUBLE_EQ(m.train_flops_per_step(kBatch, 0), static_flops(4));
  m.begin_epoch(1, 100);
  m.begin_epoch(2, 150);
  EXPECT_EQ(m.counted_train_flops(100), 0.0);
  // 50 steps at width 8, then 30 at width 12.
  EXPECT_DOUBLE_EQ(m.counted_train_flops(180), 80.0 * (static_flops(8) - static_flops(4)) +
                                                   30.0 * (static_flops(12) - static_flops(8)));
}

TEST(WidthGrowth, RefusesALayerBetweenThatIsNotZeroAtZero) {
  ModelConfig cfg = grow_mlp(4);
  cfg.layers[1] = layer(LayerType::layernorm);
  EXPECT_CONTAINS(user_error_message([&] { Model m(cfg, kIn, 1, Device::cpu()); }),
                  "followed by a 'layernorm' layer");
  cfg.layers = {cfg.layers[0]};
  EXPECT_CONTAINS(user_error_message([&] { Model m(cfg, kIn, 1, Device::cpu()); }),
                  "needs a linear layer after it");
}

}  // namespace
