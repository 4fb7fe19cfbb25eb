// Residual blocks: whole-model gradients against central finite differences in float64 on the
// CPU (blocks with fused and unfused layers inside, a nested block, a block of identity steps),
// deterministic parameter names, the block's forward, and the morphogenetic layers inside a
// block.
#include <gtest/gtest.h>

#include "nn/kasmina_layer.hpp"
#include "nn/model.hpp"
#include "tests/nn/gradient_check.hpp"

using namespace kasmina;
using kasmina::testing::layer;

namespace {

LayerConfig residual(std::vector<LayerConfig> body) {
  LayerConfig l(LayerType::residual);
  l.as<ResidualConfig>().layers = std::move(body);
  return l;
}

// Checks every parameter gradient against central differences (labels cycle through the
// classes); returns the number of values checked.
int check_gradients(const ModelConfig& cfg, int64_t D, int64_t classes) {
  std::vector<int32_t> labels;
  for (int64_t b = 0; b < 4; ++b) labels.push_back(static_cast<int32_t>(b % classes));
  return kasmina::testing::check_model_gradients(cfg, D, classes, 321, 7, labels);
}

}  // namespace

TEST(ResidualGradients, BlocksMatchFiniteDifferences) {
  ModelConfig cfg;
  // linear+relu (fused; the block's first linear must not fuse across the block boundary) ->
  // block [linear+gelu (fused into the next linear's backward), linear] -> block [layernorm,
  // linear+relu, dropout, linear] -> linear+gelu -> linear (logits)
  cfg.layers = {
      layer(LayerType::linear, 6),
      layer(LayerType::relu),
      residual({layer(LayerType::linear, 5), layer(LayerType::gelu), layer(LayerType::linear, 6)}),
      residual({layer(LayerType::layernorm), layer(LayerType::linear, 4), layer(LayerType::relu),
                layer(LayerType::dropout, 0, 0.3), layer(LayerType::linear, 6)}),
      layer(LayerType::linear, 5),
      layer(LayerType::gelu),
      layer(LayerType::linear, 3)};
  EXPECT_GT(check_gradients(cfg, 4, 3), 150);
}

TEST(ResidualGradients, NestedBlocksAndABlockFirstMatchFiniteDifferences) {
  ModelConfig cfg;
  // The model starts with a block (no input gradient is needed below it); a block inside a
  // block; a block whose body is a single activation.
  cfg.layers = {residual({layer(LayerType::linear, 3), layer(LayerType::relu),
                          residual({layer(LayerType::linear, 3), layer(LayerType::gelu)})}),
                residual({layer(LayerType::gelu)}), layer(LayerType::linear, 4),
                layer(LayerType::relu), layer(LayerType::linear, 2)};
  EXPECT_GT(check_gradients(cfg, 3, 2), 40);
}

TEST(ResidualBlock, ForwardAddsTheInputAndNamesParametersByPath) {
  ModelConfig cfg;
  cfg.layers = {
      layer(LayerType::linear, 4),
      residual({layer(LayerType::linear, 8), layer(LayerType::relu), layer(LayerType::linear, 4)}),
      layer(LayerType::linear, 2)};
  Model m(cfg, 3, 1, Device::cpu());
  ASSERT_EQ(m.layers().size(), 3u);
  EXPECT_EQ(m.describe()[1], "residual 4 [linear 4 -> 8 + relu (fused), linear 8 -> 4]");
  std::vector<std::string> names;
  for (Parameter* p : m.parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"layers.0.weight", "layers.0.bias",
                                             "layers.1.layers.0.weight", "layers.1.layers.0.bias",
                                             "layers.1.layers.2.weight", "layers.1.layers.2.bias",
                                             "layers.2.weight", "layers.2.bias"}));
  // With the block's last linear at zero, the block is the identity.
  for (Parameter* p : m.parameters())
    if (p->name.rfind("layers.1.layers.2.", 0) == 0) p->value.fill_zero();
  m.prepare(2);
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, -1, 0, 0.5f}, {2, 3});
  StepContext ctx;
  ctx.step = Tensor::from_vector<int64_t>({0}, {1});
  const Tensor h0 = m.layers()[0]->forward(x, Mode::eval, ctx);
  const std::vector<float> before = h0.to_vector<float>();
  const Tensor h1 = m.layers()[1]->forward(h0, Mode::eval, ctx);
  EXPECT_EQ(h1.to_vector<float>(), before);
}

TEST(ResidualBlock, SameConfigGivesTheSameParametersAsWithoutBlocksBeforeIt) {
  // Initialisation streams follow the entry's position in the config (pre-order): a model
  // without blocks initialises exactly as before.
  ModelConfig plain;
  plain.layers = {layer(LayerType::linear, 4), layer(LayerType::relu), layer(LayerType::linear, 2)};
  ModelConfig blocked = plain;
  blocked.layers.push_back(residual({layer(LayerType::linear, 2)}));
  blocked.layers.push_back(layer(LayerType::linear, 2));
  Model a(plain, 3, 9, Device::cpu()), b(blocked, 3, 9, Device::cpu());
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    EXPECT_EQ(a.parameters()[i]->value.to_vector<float>(),
              b.parameters()[i]->value.to_vector<float>());
  }
  // Block entries get their own streams: the block's linear differs from the last linear.
  const auto ps = b.parameters();
  EXPECT_NE(ps[4]->value.to_vector<float>(), ps[6]->value.to_vector<float>());
}

TEST(ResidualBlock, MorphLayersInsideBlocksCountInModelOrder) {
  LayerConfig k(LayerType::kasmina);
  k.as<KasminaConfig>().seeds = 2;
  ModelConfig cfg;
  cfg.layers = {layer(LayerType::linear, 4), residual({k, layer(LayerType::linear, 4)}), k,
                layer(LayerType::linear, 2)};
  Model m(cfg, 3, 1, Device::cpu());
  ASSERT_EQ(m.morph_layers().size(), 2u);
  EXPECT_EQ(m.morph_layers()[0]->config().layer_index, 0);
  EXPECT_EQ(m.morph_layers()[1]->config().layer_index, 1);
}
