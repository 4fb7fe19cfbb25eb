// Whole-model gradients (every layer type, fused and unfused linear/activation paths, the
// loss) against central finite differences, in float64 on the CPU.
#include <gtest/gtest.h>

#include "nn/linear.hpp"
#include "nn/model.hpp"
#include "tests/common/user_error.hpp"
#include "tests/nn/gradient_check.hpp"

using namespace kasmina;

using kasmina::testing::layer;

TEST(ModelGradients, EveryLayerTypeMatchesFiniteDifferences) {
  ModelConfig cfg;
  // linear+relu (fused) -> linear+gelu (fused, and the next linear fuses its backward) ->
  // linear -> layernorm -> gelu (standalone) -> dropout -> linear (no activation) -> relu ->
  // linear (logits)
  cfg.layers = {layer(LayerType::linear, 7), layer(LayerType::relu),
                layer(LayerType::linear, 6), layer(LayerType::gelu),
                layer(LayerType::linear, 5), layer(LayerType::layernorm),
                layer(LayerType::gelu),      layer(LayerType::dropout, 0, 0.3),
                layer(LayerType::linear, 6), layer(LayerType::relu),
                layer(LayerType::linear, 3)};
  const int checked = kasmina::testing::check_model_gradients(cfg, 5, 3, 123, 99, {0, 2, 1, 2});
  EXPECT_GT(checked, 100);
}

TEST(ModelBuilder, FusesLinearWithFollowingActivation) {
  ModelConfig cfg;
  cfg.layers = {layer(LayerType::linear, 8), layer(LayerType::relu),
                layer(LayerType::dropout, 0, 0.1), layer(LayerType::linear, 2)};
  Model m(cfg, 3, 1, Device::cpu());
  ASSERT_EQ(m.layers().size(), 3u);
  EXPECT_EQ(m.describe()[0], "linear 3 -> 8 + relu (fused)");
  EXPECT_EQ(m.parameter_count(), 3 * 8 + 8 + 8 * 2 + 2);
  // Same seed -> same parameters; another seed -> different.
  Model m2(cfg, 3, 1, Device::cpu()), m3(cfg, 3, 2, Device::cpu());
  EXPECT_EQ(m.parameters()[0]->value.to_vector<float>(),
            m2.parameters()[0]->value.to_vector<float>());
  EXPECT_NE(m.parameters()[0]->value.to_vector<float>(),
            m3.parameters()[0]->value.to_vector<float>());
}

TEST(ModelBuilder, InitSchemesByName) {
  EXPECT_EQ(parse_init_scheme("kaiming_uniform"), InitScheme::kaiming_uniform);
  EXPECT_EQ(parse_init_scheme("xavier_uniform"), InitScheme::xavier_uniform);
  EXPECT_EQ(parse_init_scheme("normal"), InitScheme::normal);
  EXPECT_EQ(
      kasmina::testing::user_error_message([] { parse_init_scheme("zeros"); }),
      "model.init: 'zeros' is not allowed (allowed: kaiming_uniform, xavier_uniform, normal)");
}
