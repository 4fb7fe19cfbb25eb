// Convolutional layers in a model: every parameter gradient of small convolutional networks
// (conv2d, batchnorm2d with and without a fused relu, residual blocks with projection
// shortcuts, max and average pooling, global average pooling, flatten) against central finite
// differences in float64 on the CPU; the shapes the layers produce; batchnorm's running
// statistics (their update, their use in evaluation, their checkpoint entries); residual blocks
// with a fused tail (the last normalisations, the add and the block's relu in one pass) against
// the same blocks unfused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/layers/batchnorm.hpp"
#include "config/layers/conv2d.hpp"
#include "core/rng.hpp"
#include "core/stateful.hpp"
#include "nn/conv_layers.hpp"
#include "nn/model.hpp"
#include "tests/nn/gradient_check.hpp"

using namespace kasmina;
using kasmina::testing::layer;

namespace {

LayerConfig conv(int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias = true,
                 int64_t groups = 1) {
  LayerConfig l(LayerType::conv2d);
  Conv2dConfig& c = l.as<Conv2dConfig>();
  c.out = out;
  c.kernel = kernel;
  c.stride = stride;
  c.padding = padding;
  c.bias = bias;
  c.groups = groups;
  return l;
}

LayerConfig pool(LayerType type, int64_t kernel, int64_t stride, int64_t padding = 0) {
  LayerConfig l(type);
  Pool2dConfig& p = l.as<Pool2dConfig>();
  p.kernel = kernel;
  p.stride = stride;
  p.padding = padding;
  return l;
}

LayerConfig block(std::vector<LayerConfig> body, std::vector<LayerConfig> shortcut) {
  LayerConfig l(LayerType::residual);
  l.as<ResidualConfig>().layers = std::move(body);
  l.as<ResidualConfig>().shortcut = std::move(shortcut);
  return l;
}

int check(const ModelConfig& cfg, ImageShape image, int64_t classes) {
  std::vector<int32_t> labels;
  for (int64_t b = 0; b < 3; ++b) labels.push_back(static_cast<int32_t>((b * 2 + 1) % classes));
  return kasmina::testing::check_model_gradients(cfg, SampleShape::flat_image(image), classes, 11,
                                                 29, labels);
}

}  // namespace

TEST(ConvGradients, ResNetBlockWithProjectionShortcut) {
  ModelConfig cfg;
  // 6x6x2 -> conv 3 (bias) -> bn+relu (fused) -> block [conv s2 no bias, bn+relu, conv, bn]
  // + shortcut [1x1 conv s2, bn] -> relu -> global_avgpool -> linear 3
  cfg.layers = {
      conv(3, 3, 1, 1),
      layer(LayerType::batchnorm2d),
      layer(LayerType::relu),
      block({conv(4, 3, 2, 1, false), layer(LayerType::batchnorm2d), layer(LayerType::relu),
             conv(4, 3, 1, 1, false), layer(LayerType::batchnorm2d)},
            {conv(4, 1, 2, 0, false), layer(LayerType::batchnorm2d)}),
      layer(LayerType::relu),
      layer(LayerType::global_avgpool),
      layer(LayerType::linear, 3),
  };
  const int checked = check(cfg, {6, 6, 2}, 3);
  // conv 3*3*3*2+3, bn 6, block: 4*3*3*3 + 8 + 4*3*3*4 + 8, shortcut 4*3 + 8, linear 4*3+3
  EXPECT_EQ(checked, 57 + 6 + 108 + 8 + 144 + 8 + 12 + 8 + 15);
}

TEST(ConvGradients, IdentityBlocksWithFusedTails) {
  ModelConfig cfg;
  // 5x5x2 -> conv 3 -> block [conv, bn+relu, conv, bn] -> relu (joins the block's tail) ->
  // block [conv, bn] with no relu after it (a tail without relu) -> global_avgpool -> linear 2
  cfg.layers = {
      conv(3, 3, 1, 1),
      block({conv(3, 3, 1, 1, false), layer(LayerType::batchnorm2d), layer(LayerType::relu),
             conv(3, 3, 1, 1, false), layer(LayerType::batchnorm2d)},
            {}),
      layer(LayerType::relu),
      block({conv(3, 1, 1, 0), layer(LayerType::batchnorm2d)}, {}),
      layer(LayerType::global_avgpool),
      layer(LayerType::linear, 2),
  };
  const int checked = check(cfg, {5, 5, 2}, 2);
  EXPECT_EQ(checked, 57 + 81 + 6 + 81 + 6 + 12 + 6 + 8);
}

TEST(ConvGradients, PoolingGroupsAndFlatten) {
  ModelConfig cfg;
  // 8x8x1 -> conv 4 (5x5 pad 2) -> maxpool 2 -> grouped conv (2 groups) -> avgpool 3/1 pad 1
  // -> flatten (4x4x4 = 64) -> linear 2
  cfg.layers = {
      conv(4, 5, 1, 2),
      layer(LayerType::gelu),
      pool(LayerType::maxpool2d, 2, 2),
      conv(4, 3, 1, 1, true, 2),
      pool(LayerType::avgpool2d, 3, 1, 1),
      layer(LayerType::flatten),
      layer(LayerType::linear, 2),
  };
  const int checked = check(cfg, {8, 8, 1}, 2);
  EXPECT_EQ(checked, (4 * 25 + 4) + (4 * 9 * 2 + 4) + (64 * 2 + 2));
}

TEST(ConvGradients, ConvolutionAfterALayerOfTheFlattenedImage) {
  ModelConfig cfg;  // 4x4x1 -> layernorm over the 16 pixels -> conv 2 -> global_avgpool -> 2
  cfg.layers = {layer(LayerType::layernorm), conv(2, 3, 1, 1), layer(LayerType::global_avgpool),
                layer(LayerType::linear, 2)};
  EXPECT_EQ(check(cfg, {4, 4, 1}, 2), 32 + 20 + 6);
}

TEST(ConvLayers, ShapesAndRowsThroughTheModel) {
  ModelConfig cfg;
  cfg.layers = {conv(8, 3, 2, 1), pool(LayerType::maxpool2d, 2, 2),
                layer(LayerType::global_avgpool), layer(LayerType::linear, 10)};
  Model m(cfg, SampleShape::flat_image({28, 28, 1}), 1, Device::cpu());
  const auto& ls = m.layers();
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls[0]->in_rows(), 1);  // the dataset's flattened image
  EXPECT_EQ(ls[0]->in_width(), 784);
  EXPECT_EQ(ls[1]->in_width(), 8);
  EXPECT_EQ(ls[0]->out_rows(), 14 * 14);
  EXPECT_EQ(ls[1]->in_rows(), 14 * 14);
  EXPECT_EQ(ls[1]->out_rows(), 7 * 7);
  EXPECT_EQ(ls[2]->in_rows(), 49);
  EXPECT_EQ(ls[2]->out_rows(), 1);
  EXPECT_EQ(ls[0]->describe(), "conv2d 28x28x1 -> 14x14x8 (3x3, stride 2, padding 1)");
  m.prepare(5);
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64);
  const Tensor logits = m.forward(Tensor::zeros({5, 784}), Mode::eval, ctx);
  EXPECT_EQ(logits.dim(0), 5);
  EXPECT_EQ(logits.dim(1), 10);
}

TEST(BatchNormLayer, RunningStatisticsUpdateAndCheckpoint) {
  BatchNormConfig c;
  c.momentum = 0.25;
  BatchNormLayer bn("layers.0", 2, c, Device::cpu(), DType::f64);
  bn.prepare(4, Device::cpu());
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64);
  // Column 0: 1, 2, 3, 6 (mean 3, unbiased var 14/3); column 1: constant 5 (var 0).
  const Tensor x = Tensor::from_vector<double>({1, 5, 2, 5, 3, 5, 6, 5}, {4, 2});
  const std::vector<double> y = bn.forward(x, Mode::train, ctx).to_vector<double>();
  EXPECT_NEAR(y[0], (1 - 3) / std::sqrt(3.5 + 1e-5), 1e-12);  // biased var 14/4
  EXPECT_NEAR(y[1], 0.0, 1e-12);
  RunState state;
  StateWriter w(state, "");
  bn.save_state(w);
  const auto entry = [&](const std::string& name) {
    for (const auto& [n, t] : state.tensors)
      if (n == name) return t.to_vector<double>();
    ADD_FAILURE() << "no checkpoint entry " << name;
    return std::vector<double>(2, 0.0);
  };
  const std::vector<double> mean = entry("layers.0.running_mean");
  const std::vector<double> var = entry("layers.0.running_var");
  EXPECT_NEAR(mean[0], 0.25 * 3, 1e-12);
  EXPECT_NEAR(mean[1], 0.25 * 5, 1e-12);
  EXPECT_NEAR(var[0], 0.75 + 0.25 * 14.0 / 3.0, 1e-12);
  EXPECT_NEAR(var[1], 0.75, 1e-12);
  // Evaluation uses the running statistics: (x - 0.75) / sqrt(var + eps).
  const std::vector<double> e = bn.forward(x, Mode::eval, ctx).to_vector<double>();
  EXPECT_NEAR(e[0], (1 - 0.75) / std::sqrt(0.75 + 0.25 * 14.0 / 3.0 + 1e-5), 1e-12);
  // A fresh layer loading the checkpoint evaluates identically.
  BatchNormLayer other("layers.0", 2, c, Device::cpu(), DType::f64);
  other.prepare(4, Device::cpu());
  other.load_state(StateReader(state, ""));
  EXPECT_EQ(other.forward(x, Mode::eval, ctx).to_vector<double>(), e);
}

namespace {

// One training step's logits, parameter gradients and evaluation logits of `cfg` on the CPU in
// float32, with the residual tails fused or not.
struct StepResult {
  std::vector<std::string> describe;
  std::vector<float> logits, eval_logits;
  std::vector<std::vector<float>> grads;
};

StepResult run_step(const ModelConfig& cfg, bool fused) {
  if (fused) {
    unsetenv("KASMINA_FUSED_TAIL");
  } else {
    setenv("KASMINA_FUSED_TAIL", "0", 1);
  }
  Model m(cfg, SampleShape::flat_image({6, 6, 2}), 5, Device::cpu());
  unsetenv("KASMINA_FUSED_TAIL");
  const int64_t B = 3;
  m.prepare(B);
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64);
  Rng rng(77);
  std::vector<float> xv(static_cast<size_t>(B * 72)), dv(static_cast<size_t>(B * 4));
  for (float& v : xv) v = static_cast<float>(rng.uniform(-1.0, 1.5));
  for (float& v : dv) v = static_cast<float>(rng.uniform(-1.0, 1.0));
  const Tensor x = Tensor::from_vector<float>(xv, {B, 72});
  StepResult r;
  r.describe = m.describe();
  r.logits = m.forward(x, Mode::train, ctx).to_vector<float>();
  m.backward(Tensor::from_vector<float>(dv, {B, 4}), ctx);
  for (Parameter* p : m.parameters()) r.grads.push_back(p->grad.to_vector<float>());
  r.eval_logits = m.forward(x, Mode::eval, ctx).to_vector<float>();
  return r;
}

}  // namespace

TEST(ResidualTail, FusedBlocksMatchUnfusedBitwiseOnTheCpu) {
  // The fused pass computes each normalisation as batchnorm's apply does and adds once, and the
  // normalisations mask their backward by the block's output as the relu layer would: on the
  // CPU (no FMA contraction) fused and unfused steps are bitwise equal.
  ModelConfig cfg;
  cfg.layers = {
      conv(4, 3, 1, 1),
      layer(LayerType::batchnorm2d),
      layer(LayerType::relu),
      block({conv(4, 3, 1, 1, false), layer(LayerType::batchnorm2d), layer(LayerType::relu),
             conv(4, 3, 1, 1, false), layer(LayerType::batchnorm2d)},
            {}),
      layer(LayerType::relu),
      block({conv(8, 3, 2, 1, false), layer(LayerType::batchnorm2d), layer(LayerType::relu),
             conv(8, 3, 1, 1, false), layer(LayerType::batchnorm2d)},
            {conv(8, 1, 2, 0, false), layer(LayerType::batchnorm2d)}),
      layer(LayerType::relu),
      block({conv(8, 3, 1, 1, false), layer(LayerType::batchnorm2d)}, {}),
      layer(LayerType::global_avgpool),
      layer(LayerType::linear, 4),
  };
  const StepResult fused = run_step(cfg, true), plain = run_step(cfg, false);
  ASSERT_EQ(fused.describe.size(), 7u);  // the two relus after blocks joined them
  ASSERT_EQ(plain.describe.size(), 9u);
  EXPECT_NE(fused.describe[2].find("+ relu (tail fused)"), std::string::npos) << fused.describe[2];
  EXPECT_NE(fused.describe[3].find("+ relu (tail fused)"), std::string::npos) << fused.describe[3];
  EXPECT_NE(fused.describe[4].find("(tail fused)"), std::string::npos) << fused.describe[4];
  EXPECT_EQ(plain.describe[2].find("tail fused"), std::string::npos) << plain.describe[2];
  EXPECT_EQ(fused.logits, plain.logits);
  EXPECT_EQ(fused.eval_logits, plain.eval_logits);
  ASSERT_EQ(fused.grads.size(), plain.grads.size());
  for (size_t i = 0; i < fused.grads.size(); ++i) EXPECT_EQ(fused.grads[i], plain.grads[i]) << i;
  double largest = 0.0;
  for (const auto& g : fused.grads)
    for (float v : g) largest = std::max(largest, std::fabs(static_cast<double>(v)));
  EXPECT_GT(largest, 1e-3);  // the step moved something
}
