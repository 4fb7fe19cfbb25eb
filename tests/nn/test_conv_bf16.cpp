// Convolution layers under `train.precision: bf16` on the CPU (docs/PRECISION.md,
// "Convolutions"): which convolutions run in bf16 (float32 layers whose channels per group are
// multiples of 8, in bf16 mode only), and a layer's training step, equal bit for bit to the bf16
// ops composed by hand (weight, input and output gradient cast, cuDNN's bf16 results widened,
// the weight gradient rounded once), and close to the float32 layer's; conv -> batchnorm -> conv
// handing bf16 maps (no casts between them) with the same values as with float32 maps between;
// residual blocks handing each other a bf16 copy of the output and taking their input
// gradients back in bf16, with the same values again.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "config/layers/conv2d.hpp"
#include "config/layers/linear.hpp"
#include "config/layers/residual.hpp"
#include "core/env_switch.hpp"
#include "core/rng.hpp"
#include "nn/conv_layers.hpp"
#include "nn/layer_sequence.hpp"
#include "nn/model.hpp"
#include "ops/conv_ops.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

using namespace kasmina;

namespace {

using ops::bf16_test::to_bf16;
using ops::bf16_test::widen;

Tensor random(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  return ops::bf16_test::random_f32(rng, s);
}

// bf16 mode on the CPU with the bf16 convolutions switched on, for one test.
struct Bf16Mode {
  ops::bf16_test::ScopedMathMode mode{ops::MathMode::bf16};
  ScopedSwitch conv{bf16_convolutions, set_bf16_convolutions, true};
};

std::vector<float> floats(const Tensor& t) {
  return t.to_vector<float>();
}

bool runs_bf16(const SampleShape& in, int64_t out, ops::Conv2dParams p, DType dtype = DType::f32) {
  Conv2dLayer l("c", in, out, 3, p, false, dtype);
  l.initialize(1, 0, Device::cpu());
  l.prepare(2 * in.rows, Device::cpu());
  return l.bf16();
}

}  // namespace

TEST(Conv2dLayerBf16, WhichConvolutionsRunInBf16) {
  const SampleShape map16 = SampleShape::pixels({8, 8, 16});
  const ops::Conv2dParams same{.stride = 1, .padding = 1, .groups = 1};
  {
    const ScopedSwitch on(bf16_convolutions, set_bf16_convolutions, true);
    EXPECT_FALSE(runs_bf16(map16, 16, same)) << "fp32 mode";
  }
  {
    const ops::bf16_test::ScopedMathMode mode(ops::MathMode::bf16);
    const ScopedSwitch off(bf16_convolutions, set_bf16_convolutions, false);
    EXPECT_FALSE(runs_bf16(map16, 16, same)) << "bf16 mode, bf16 convolutions off";
  }
  const Bf16Mode bf16;
  EXPECT_TRUE(runs_bf16(map16, 16, same));
  EXPECT_TRUE(runs_bf16(map16, 32, {.stride = 2, .padding = 1, .groups = 2}));  // 8 per group
  EXPECT_FALSE(runs_bf16(map16, 12, same)) << "12 output channels";
  EXPECT_FALSE(runs_bf16(map16, 16, {.stride = 1, .padding = 1, .groups = 16})) << "depthwise";
  EXPECT_FALSE(runs_bf16(SampleShape::flat_image({8, 8, 1}), 16, same)) << "one-channel stem";
  EXPECT_FALSE(runs_bf16(map16, 16, same, DType::f64)) << "a float64 layer";
}

TEST(Conv2dLayerBf16, StepIsTheBf16OpsComposed) {
  const Bf16Mode bf16;
  const int64_t batch = 3;
  const ops::Conv2dParams p{.stride = 2, .padding = 1, .groups = 1};
  Conv2dLayer layer("c", SampleShape::pixels({6, 6, 8}), 16, 3, p, true, DType::f32);
  layer.initialize(7, 0, Device::cpu());
  layer.prepare(batch * 36, Device::cpu());
  ASSERT_TRUE(layer.bf16());
  EXPECT_EQ(layer.describe(), "conv2d 6x6x8 -> 3x3x16 (3x3, stride 2, padding 1, bf16)");
  const Tensor x = random({batch * 36, 8}, 11), dy = random({batch * 9, 16}, 12);
  StepContext ctx;
  const Tensor y = layer.forward(x, Mode::train, ctx);
  Tensor dx = Tensor::empty({batch * 36, 8});
  layer.backward(dy, &dx, ctx);
  const std::vector<Parameter*> params = layer.parameters();
  ASSERT_EQ(params.size(), 2u);
  const Tensor& w = params[0]->value;
  const Tensor& b = params[1]->value;

  // The same step from the ops.
  const Tensor x16 = to_bf16(x).view({batch, 6, 6, 8}), w16 = to_bf16(w);
  const Tensor dy16 = to_bf16(dy).view({batch, 3, 3, 16});
  Tensor y16 = Tensor::empty({batch, 3, 3, 16}, DType::bf16);
  ops::conv2d_forward(x16, w16, b, p, y16);
  Tensor dw16 = Tensor::empty(w.shape(), DType::bf16), db = Tensor::empty({16});
  ops::conv2d_backward_weight(dy16, x16, p, dw16, &db);
  Tensor dx16 = Tensor::empty({batch, 6, 6, 8}, DType::bf16);
  ops::conv2d_backward_input(dy16, w16, p, dx16);
  EXPECT_EQ(floats(y), floats(widen(y16)));
  EXPECT_EQ(floats(dx), floats(widen(dx16)));
  EXPECT_EQ(floats(params[0]->grad), floats(widen(dw16)));
  EXPECT_EQ(floats(params[1]->grad), floats(db));

  // And the float32 layer's step within bf16 rounding (8 significant bits; the rms error of
  // K = 72-term sums of products of rounded values stays near 2^-8 of the rms).
  Conv2dLayer f32("c", SampleShape::pixels({6, 6, 8}), 16, 3, p, true, DType::f32);
  f32.initialize(7, 0, Device::cpu());
  ops::set_math_mode(Device::cpu(), ops::MathMode::fp32);
  f32.prepare(batch * 36, Device::cpu());
  ops::set_math_mode(Device::cpu(), ops::MathMode::bf16);
  ASSERT_FALSE(f32.bf16());
  const Tensor y32 = f32.forward(x, Mode::train, ctx);
  Tensor dx32 = Tensor::empty({batch * 36, 8});
  f32.backward(dy, &dx32, ctx);
  auto rel_rms = [](const Tensor& a, const Tensor& ref) {
    const std::vector<float> u = floats(a), v = floats(ref);
    double e = 0.0, r = 0.0;
    for (size_t i = 0; i < v.size(); ++i) {
      e += (u[i] - v[i]) * static_cast<double>(u[i] - v[i]);
      r += v[i] * static_cast<double>(v[i]);
    }
    return std::sqrt(e / r);
  };
  for (const auto& [got, want, what] :
       {std::tuple{y, y32, "y"}, std::tuple{dx, dx32, "dx"},
        std::tuple{params[0]->grad, f32.parameters()[0]->grad, "dw"}}) {
    const double err = rel_rms(got, want);
    EXPECT_LT(err, 1.5e-2) << what;
    EXPECT_GT(err, 1e-4) << what << ": bf16 should round";
  }
}

namespace {

LayerConfig conv_cfg(int64_t out) {
  LayerConfig l(LayerType::conv2d);
  Conv2dConfig& c = l.as<Conv2dConfig>();
  c.out = out;
  c.kernel = 3;
  c.padding = 1;
  c.bias = false;
  return l;
}

// One training step's values of a small conv net in bf16 mode: the logits and every gradient.
struct StepValues {
  std::vector<std::string> describe;
  std::vector<std::vector<float>> values;
};

const LayerConfig kBn(LayerType::batchnorm2d), kRelu(LayerType::relu);

ModelConfig plain_net() {
  LayerConfig linear(LayerType::linear);
  linear.as<LinearConfig>().out = 5;
  ModelConfig cfg;
  cfg.layers = {conv_cfg(16), kBn, kRelu, conv_cfg(16), kBn, LayerConfig(LayerType::global_avgpool),
                linear};
  return cfg;
}

// A stem, an identity block, a projection block and an identity block again (their fused
// tails), as the reference ResNet.
ModelConfig residual_net() {
  auto block = [](std::vector<LayerConfig> body, std::vector<LayerConfig> shortcut) {
    LayerConfig l(LayerType::residual);
    l.as<ResidualConfig>().layers = std::move(body);
    l.as<ResidualConfig>().shortcut = std::move(shortcut);
    return l;
  };
  LayerConfig down = conv_cfg(32), project = conv_cfg(32);
  down.as<Conv2dConfig>().stride = 2;
  project.as<Conv2dConfig>().kernel = 1;
  project.as<Conv2dConfig>().stride = 2;
  project.as<Conv2dConfig>().padding = 0;
  LayerConfig linear(LayerType::linear);
  linear.as<LinearConfig>().out = 5;
  ModelConfig cfg;
  cfg.layers = {conv_cfg(16), kBn,
                kRelu,        block({conv_cfg(16), kBn, kRelu, conv_cfg(16), kBn}, {}),
                kRelu,        block({down, kBn, kRelu, conv_cfg(32), kBn}, {project, kBn}),
                kRelu,        block({conv_cfg(32), kBn, kRelu, conv_cfg(32), kBn}, {}),
                kRelu,        LayerConfig(LayerType::global_avgpool),
                linear};
  return cfg;
}

// One training step (logits, every gradient) and an evaluation forward of `cfg` in bf16 mode.
StepValues conv_net_step(const ModelConfig& cfg, bool bf16_maps) {
  const ScopedSwitch maps(bf16_conv_maps, set_bf16_conv_maps, bf16_maps);
  const int64_t batch = 4;
  Model m(cfg, SampleShape::flat_image({6, 6, 8}), 3, Device::cpu());
  m.prepare(batch);
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64);
  StepValues out;
  out.describe = m.describe();
  const Tensor x = random({batch, 6 * 6 * 8}, 21);
  out.values.push_back(floats(m.forward(x, Mode::train, ctx)));
  m.backward(random({batch, 5}, 22), ctx);
  for (Parameter* p : m.parameters()) out.values.push_back(floats(p->grad));
  out.values.push_back(floats(m.forward(x, Mode::eval, ctx)));
  return out;
}

void expect_same_values(const StepValues& a, const StepValues& b) {
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_EQ(a.values[i], b.values[i]) << "tensor " << i << " (0: the logits, last: eval)";
  }
}

}  // namespace

TEST(Conv2dLayerBf16, MapsBetweenConvolutionsStayBf16WithTheSameValues) {
  const Bf16Mode bf16;
  const StepValues linked = conv_net_step(plain_net(), true);
  const StepValues cast = conv_net_step(plain_net(), false);
  ASSERT_GE(linked.describe.size(), 3u);
  EXPECT_NE(linked.describe[1].find("(bf16 maps)"), std::string::npos) << linked.describe[1];
  EXPECT_EQ(cast.describe[1].find("(bf16"), std::string::npos) << cast.describe[1];
  // The second normalisation (before the pooling) takes a bf16 input, hands on float32.
  EXPECT_NE(linked.describe[3].find("(bf16 input)"), std::string::npos) << linked.describe[3];
  expect_same_values(linked, cast);
}

TEST(Conv2dLayerBf16, ResidualBlocksTakeBf16NormalisationInputsWithTheSameValues) {
  const Bf16Mode bf16;
  const StepValues linked = conv_net_step(residual_net(), true);
  const StepValues cast = conv_net_step(residual_net(), false);
  ASSERT_GE(linked.describe.size(), 4u);
  // The blocks' first normalisations link both sides, the deferred ones (the fused tails' body
  // and shortcut normalisations) take bf16 inputs.
  const std::string& identity = linked.describe[2];
  EXPECT_NE(identity.find("(bf16 maps)"), std::string::npos) << identity;
  EXPECT_NE(identity.find("fused tail) (bf16 input)"), std::string::npos) << identity;
  const std::string& projection = linked.describe[3];
  size_t inputs = 0;
  for (size_t at = projection.find("(bf16 input)"); at != std::string::npos;
       at = projection.find("(bf16 input)", at + 1)) {
    ++inputs;
  }
  EXPECT_EQ(inputs, 2u) << projection;  // the body's and the shortcut's deferred normalisations
  // Its three convolutions take bf16 inputs (the block's one cast for the first two, the
  // normalisation before the third) and keep no input copies of their own; all hand bf16 on.
  size_t conv_inputs = 0;
  for (size_t at = projection.find(", bf16, bf16 input, bf16 output"); at != std::string::npos;
       at = projection.find(", bf16, bf16 input, bf16 output", at + 1)) {
    ++conv_inputs;
  }
  EXPECT_EQ(conv_inputs, 3u) << projection;
  // Every convolution of the blocks writes its input gradient in bf16: the second ones for the
  // normalisation below (bf16 maps), the first ones of the bodies and the shortcut for the
  // block's adds, which widen it on the load (no widening pass); the same values as the float32
  // gradients of the run without bf16 maps, below.
  const auto count = [](const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(identity, ", bf16 dx)"), 2u) << identity;
  EXPECT_EQ(count(projection, ", bf16 dx)"), 3u) << projection;
  EXPECT_EQ(count(cast.describe[2] + cast.describe[3], "bf16 dx"), 0u);
  // Each block before another stores its output in bf16 beside the float32 one (its fused tail's
  // second store), and the block after it reads that copy instead of casting its input: the
  // projection block after the identity one, the identity block after the projection one (whose
  // first convolution then reads it while its shortcut adds the float32 input). The first
  // block's input comes from the stem's normalisation and is cast; the last one stores nothing.
  ASSERT_GE(linked.describe.size(), 5u);
  const std::string& last = linked.describe[4];
  EXPECT_NE(identity.find(" (bf16 output copy)"), std::string::npos) << identity;
  EXPECT_EQ(identity.find(" (bf16 input from the block before)"), std::string::npos) << identity;
  EXPECT_NE(projection.find(" (bf16 output copy) (bf16 input from the block before)"),
            std::string::npos)
      << projection;
  EXPECT_NE(last.find(" (bf16 input from the block before)"), std::string::npos) << last;
  EXPECT_EQ(last.find(" (bf16 output copy)"), std::string::npos) << last;
  EXPECT_EQ(count(cast.describe[2] + cast.describe[3] + cast.describe[4], "bf16 output copy"), 0u);
  // The stem takes float32 and hands bf16 on.
  EXPECT_NE(linked.describe[0].find(", bf16, bf16 output)"), std::string::npos)
      << linked.describe[0];
  expect_same_values(linked, cast);
}
