// bf16 activations between linear layers (docs/PRECISION.md), wired by the layer sequence: in
// bf16 mode a linear layer directly followed by a linear layer stores its output (and a GELU
// layer its pre-activation) in bf16, the next layer's GEMM reads it without a cast, and that
// layer's input-gradient GEMM writes the gradient in bf16 for it; the last layer's output and
// every parameter gradient stay fp32. Checked on the CPU, bit for bit, against the same chain
// composed by hand from the ops, and the hand-off is off in fp32 mode and next to a
// non-linear layer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "core/env_switch.hpp"
#include "core/rng.hpp"
#include "core/str_cat.hpp"
#include "nn/layer_sequence.hpp"
#include "nn/linear.hpp"
#include "nn/simple_layers.hpp"
#include "ops/gemm_route.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina {
namespace {

using ops::Activation;
using ops::bf16_test::random_f32;
using ops::bf16_test::to_bf16;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

struct Chain {
  std::vector<LinearLayer*> linear;
  std::unique_ptr<LayerSequence> seq;
};

// in -> h1 (act1) -> h2 (act2) -> out, three linear layers with their activations fused.
Chain make_chain(int64_t in, int64_t h1, int64_t h2, int64_t out, Activation act1, Activation act2,
                 int64_t batch) {
  Rng rng(17);
  std::vector<std::unique_ptr<Layer>> layers;
  Chain c;
  const std::vector<std::tuple<int64_t, int64_t, Activation>> dims = {
      {in, h1, act1}, {h1, h2, act2}, {h2, out, Activation::none}};
  for (size_t i = 0; i < dims.size(); ++i) {
    const auto& [a, b, act] = dims[i];
    auto l = std::make_unique<LinearLayer>(str_cat("l", i), a, b, true, act);
    l->initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
    c.linear.push_back(l.get());
    layers.push_back(std::move(l));
  }
  c.seq = std::make_unique<LayerSequence>(std::move(layers));
  c.seq->prepare(batch, Device::cpu(), DType::f32, in, /*input_grad=*/false);
  return c;
}

// Each layer's weight rounded to bf16 (what its GEMMs read), and its bias.
std::vector<Tensor> bf16_weights(const Chain& c) {
  std::vector<Tensor> out;
  for (LinearLayer* l : c.linear) out.push_back(to_bf16(l->parameters()[0]->value));
  return out;
}
std::vector<Tensor> biases(const Chain& c) {
  std::vector<Tensor> out;
  for (LinearLayer* l : c.linear) out.push_back(l->parameters()[1]->value);
  return out;
}

// 9 -> 7 -> 6 -> 4, each layer with a fused ReLU, the middle one pinned to fp32
// (keep_output_fp32: a width seed reads its pre-activation gradient), prepared for batch 5.
Chain make_pinned_chain(Rng& rng) {
  Chain c;
  std::vector<std::unique_ptr<Layer>> layers;
  for (const auto& [a, b] : std::vector<std::pair<int64_t, int64_t>>{{9, 7}, {7, 6}, {6, 4}}) {
    auto l =
        std::make_unique<LinearLayer>(str_cat("l", c.linear.size()), a, b, true, Activation::relu);
    l->initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
    c.linear.push_back(l.get());
    layers.push_back(std::move(l));
  }
  c.linear[1]->keep_output_fp32();
  c.seq = std::make_unique<LayerSequence>(std::move(layers));
  c.seq->prepare(5, Device::cpu(), DType::f32, 9, false);
  return c;
}

// The math mode, with bf16 activations switched on (they are off by default:
// layer_sequence.hpp).
struct MathModeScope {
  explicit MathModeScope(ops::MathMode m) : mode(m) {}
  ops::bf16_test::ScopedMathMode mode;
  ScopedSwitch activations{bf16_activations, set_bf16_activations, true};
};

void check_chain(Activation act1, Activation act2) {
  const MathModeScope bf16_mode(ops::MathMode::bf16);
  const int64_t B = 6, in = 20, h1 = 16, h2 = 12, out = 5;
  Chain c = make_chain(in, h1, h2, out, act1, act2, 8);
  EXPECT_EQ(c.linear[0]->output_dtype(), DType::bf16);
  EXPECT_EQ(c.linear[1]->output_dtype(), DType::bf16);
  EXPECT_EQ(c.linear[2]->output_dtype(), DType::f32);

  Rng rng(3);
  const Tensor x = random_f32(rng, {B, in}), dlogits = random_f32(rng, {B, out});
  const StepContext ctx;
  const Tensor logits = c.seq->forward(x, Mode::train, ctx);
  c.seq->backward(dlogits, ctx);

  // The same step composed from the ops.
  const std::vector<Tensor> w16 = bf16_weights(c), b = biases(c);
  const Device cpu = Device::cpu();
  const Tensor x16 = to_bf16(x);
  Tensor y1 = Tensor::empty({B, h1}, DType::bf16), y2 = Tensor::empty({B, h2}, DType::bf16);
  Tensor y3 = Tensor::empty({B, out});
  Tensor aux1 = ops::make_linear_aux(B, h1, act1, cpu, DType::bf16);
  Tensor aux2 = ops::make_linear_aux(B, h2, act2, cpu, DType::bf16);
  Tensor none;
  ops::linear_forward(x16, w16[0], b[0], act1, y1, aux1);
  ops::linear_forward(y1, w16[1], b[1], act2, y2, aux2);
  ops::linear_forward(y2, w16[2], b[2], Activation::none, y3, none);
  EXPECT_TRUE(same_bits(logits, y3));

  const Tensor d3 = to_bf16(dlogits);
  Tensor dw3 = Tensor::empty({out, h2}), db3 = Tensor::empty({out});
  ops::linear_backward_weight(d3, y2, dw3, &db3);
  Tensor d2 = Tensor::empty({B, h2}, DType::bf16), db2 = Tensor::empty({h2});
  ops::linear_backward_input(d3, w16[2], act2, aux2, d2, act2 != Activation::none ? &db2 : nullptr);
  Tensor dw2 = Tensor::empty({h2, h1}), db2w = Tensor::empty({h2});
  ops::linear_backward_weight(d2, y1, dw2, act2 != Activation::none ? nullptr : &db2w);
  Tensor d1 = Tensor::empty({B, h1}, DType::bf16), db1 = Tensor::empty({h1});
  ops::linear_backward_input(d2, w16[1], act1, aux1, d1, act1 != Activation::none ? &db1 : nullptr);
  Tensor dw1 = Tensor::empty({h1, in}), db1w = Tensor::empty({h1});
  ops::linear_backward_weight(d1, x16, dw1, act1 != Activation::none ? nullptr : &db1w);

  const auto grad = [&](size_t layer, size_t p) { return c.linear[layer]->parameters()[p]->grad; };
  EXPECT_TRUE(same_bits(grad(2, 0), dw3));
  EXPECT_TRUE(same_bits(grad(2, 1), db3));
  EXPECT_TRUE(same_bits(grad(1, 0), dw2));
  EXPECT_TRUE(same_bits(grad(1, 1), act2 != Activation::none ? db2 : db2w));
  EXPECT_TRUE(same_bits(grad(0, 0), dw1));
  EXPECT_TRUE(same_bits(grad(0, 1), act1 != Activation::none ? db1 : db1w));
}

TEST(LinearBf16Chain, ReluReluMatchesTheOpsBitForBit) {
  check_chain(Activation::relu, Activation::relu);
}

TEST(LinearBf16Chain, GeluAndUnfusedLayersMatchTheOpsBitForBit) {
  check_chain(Activation::gelu, Activation::none);
}

TEST(LinearBf16Chain, OutputsStayFp32OutsideBf16ModeAndBeforeOtherLayers) {
  {
    Chain c = make_chain(8, 6, 4, 3, Activation::relu, Activation::gelu, 4);
    for (LinearLayer* l : c.linear) EXPECT_EQ(l->output_dtype(), DType::f32);
  }
  const MathModeScope bf16_mode(ops::MathMode::bf16);
  Rng rng(5);
  std::vector<std::unique_ptr<Layer>> layers;
  auto l0 = std::make_unique<LinearLayer>("l0", 8, 6, true, Activation::none);
  auto l1 = std::make_unique<LinearLayer>("l1", 6, 4, true, Activation::none);
  l0->initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
  l1->initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
  LinearLayer* first = l0.get();
  layers.push_back(std::move(l0));
  layers.push_back(std::make_unique<ActivationLayer>(Activation::relu, 6));
  layers.push_back(std::move(l1));
  LayerSequence seq(std::move(layers));
  seq.prepare(4, Device::cpu(), DType::f32, 8, false);
  EXPECT_EQ(first->output_dtype(), DType::f32);  // a standalone relu reads it: fp32
}

// A layer whose pre-activation gradient a width seed reads (keep_output_fp32) keeps an fp32
// output and receives its gradient in fp32; the layer before it still hands it bf16.
TEST(LinearBf16Chain, APinnedLayerKeepsFp32AndTheStepStillRuns) {
  const MathModeScope bf16_mode(ops::MathMode::bf16);
  Rng rng(8);
  Chain c = make_pinned_chain(rng);
  const std::vector<LinearLayer*>& lin = c.linear;
  LayerSequence& seq = *c.seq;
  EXPECT_EQ(lin[0]->output_dtype(), DType::bf16);
  EXPECT_EQ(lin[1]->output_dtype(), DType::f32);
  EXPECT_EQ(lin[2]->output_dtype(), DType::f32);
  const StepContext ctx;
  seq.forward(random_f32(rng, {5, 9}), Mode::train, ctx);
  seq.backward(random_f32(rng, {5, 4}), ctx);
  EXPECT_EQ(lin[1]->last_preactivation_grad().dtype(), DType::f32);
  EXPECT_EQ(lin[1]->last_input().dtype(), DType::bf16);  // read by its GEMMs, no cast
  double total = 0.0;
  for (LinearLayer* l : lin) {
    for (Parameter* p : l->parameters()) {
      for (float g : p->grad.to_vector<float>()) {
        ASSERT_TRUE(std::isfinite(g)) << p->name;
        total += std::fabs(g);
      }
    }
  }
  EXPECT_GT(total, 0.0);
}

}  // namespace
}  // namespace kasmina

namespace kasmina {
namespace {

TEST(LinearBf16Chain, OffByDefaultTheOutputsStayFp32InBf16Mode) {
  ASSERT_FALSE(bf16_activations()) << "KASMINA_BF16_ACTIVATIONS is set in this environment";
  ops::set_math_mode(Device::cpu(), ops::MathMode::bf16);
  Chain c = make_chain(20, 16, 12, 5, Activation::relu, Activation::relu, 8);
  ops::set_math_mode(Device::cpu(), ops::MathMode::fp32);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.linear[i]->output_dtype(), DType::f32) << i;
}

}  // namespace
}  // namespace kasmina

// The bf16 gradient hand-off (docs/PRECISION.md): with the bf16 activations off, a linear layer
// whose input-gradient GEMM takes kasmina's pass (ops/gemm_route.hpp) hands the ReLU linear layer
// below it a bf16 gradient (the pass stores it, with that layer's bias gradient), which that
// layer's weight-gradient GEMM reads without a cast; outputs stay fp32. The same step composed
// from the ops, bit for bit; with the route forced to cuBLASLt the gradients stay fp32.
namespace kasmina {
namespace {

struct DactScope {
  explicit DactScope(ops::DactPath p) {
    ops::set_math_mode(Device::cpu(), ops::MathMode::bf16);
    ops::set_dact_path(p);
  }
  ~DactScope() {
    ops::set_math_mode(Device::cpu(), ops::MathMode::fp32);
    ops::set_dact_path(ops::DactPath::automatic);
  }
};

TEST(LinearBf16Handoff, PassRouteHandsBf16GradientsAndMatchesTheOpsBitForBit) {
  const DactScope scope(ops::DactPath::pass);
  const int64_t B = 6, in = 20, h1 = 16, h2 = 12, out = 5;
  Chain c = make_chain(in, h1, h2, out, Activation::relu, Activation::relu, 8);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.linear[i]->output_dtype(), DType::f32) << i;
  Rng rng(4);
  const Tensor x = random_f32(rng, {B, in}), dlogits = random_f32(rng, {B, out});
  const StepContext ctx;
  const Tensor logits = c.seq->forward(x, Mode::train, ctx);
  c.seq->backward(dlogits, ctx);
  EXPECT_EQ(c.linear[0]->last_preactivation_grad().dtype(), DType::bf16);
  EXPECT_EQ(c.linear[1]->last_preactivation_grad().dtype(), DType::bf16);

  const std::vector<Tensor> w16 = bf16_weights(c), b = biases(c);
  const Device cpu = Device::cpu();
  const Tensor x16 = to_bf16(x);
  Tensor y1 = Tensor::empty({B, h1}), y2 = Tensor::empty({B, h2}), y3 = Tensor::empty({B, out});
  Tensor aux1 = ops::make_linear_aux(B, h1, Activation::relu, cpu);
  Tensor aux2 = ops::make_linear_aux(B, h2, Activation::relu, cpu);
  Tensor none;
  ops::linear_forward(x16, w16[0], b[0], Activation::relu, y1, aux1);
  const Tensor y1_16 = to_bf16(y1);
  ops::linear_forward(y1_16, w16[1], b[1], Activation::relu, y2, aux2);
  const Tensor y2_16 = to_bf16(y2);
  ops::linear_forward(y2_16, w16[2], b[2], Activation::none, y3, none);
  EXPECT_TRUE(same_bits(logits, y3));

  const Tensor d3 = to_bf16(dlogits);
  Tensor dw3 = Tensor::empty({out, h2}), db3 = Tensor::empty({out});
  ops::linear_backward_weight(d3, y2_16, dw3, &db3);
  Tensor d2 = Tensor::empty({B, h2}, DType::bf16), db2 = Tensor::empty({h2});
  ops::linear_backward_input(d3, w16[2], Activation::relu, aux2, d2, &db2);
  Tensor dw2 = Tensor::empty({h2, h1});
  ops::linear_backward_weight(d2, y1_16, dw2, nullptr);
  Tensor d1 = Tensor::empty({B, h1}, DType::bf16), db1 = Tensor::empty({h1});
  ops::linear_backward_input(d2, w16[1], Activation::relu, aux1, d1, &db1);
  Tensor dw1 = Tensor::empty({h1, in});
  ops::linear_backward_weight(d1, x16, dw1, nullptr);

  const auto grad = [&](size_t layer, size_t p) { return c.linear[layer]->parameters()[p]->grad; };
  EXPECT_TRUE(same_bits(grad(2, 0), dw3));
  EXPECT_TRUE(same_bits(grad(2, 1), db3));
  EXPECT_TRUE(same_bits(grad(1, 0), dw2));
  EXPECT_TRUE(same_bits(grad(1, 1), db2));
  EXPECT_TRUE(same_bits(grad(0, 0), dw1));
  EXPECT_TRUE(same_bits(grad(0, 1), db1));
}

TEST(LinearBf16Handoff, CublasLtRoutePinnedLayersAndGeluKeepFp32Gradients) {
  const StepContext ctx;
  Rng rng(6);
  {
    const DactScope scope(ops::DactPath::cublaslt);
    Chain c = make_chain(20, 16, 12, 5, Activation::relu, Activation::relu, 8);
    c.seq->forward(random_f32(rng, {6, 20}), Mode::train, ctx);
    c.seq->backward(random_f32(rng, {6, 5}), ctx);
    EXPECT_EQ(c.linear[0]->last_preactivation_grad().dtype(), DType::f32);
    EXPECT_EQ(c.linear[1]->last_preactivation_grad().dtype(), DType::f32);
  }
  const DactScope scope(ops::DactPath::pass);
  {
    // GELU below: no hand-off (the pass stores a GELU layer's gradient only from an fp32
    // product with a bf16 aux, which an fp32-output layer does not save).
    Chain c = make_chain(20, 16, 12, 5, Activation::gelu, Activation::relu, 8);
    c.seq->forward(random_f32(rng, {6, 20}), Mode::train, ctx);
    c.seq->backward(random_f32(rng, {6, 5}), ctx);
    EXPECT_EQ(c.linear[0]->last_preactivation_grad().dtype(), DType::f32);
    EXPECT_EQ(c.linear[1]->last_preactivation_grad().dtype(), DType::bf16);
  }
  Chain pinned = make_pinned_chain(rng);  // a width seed reads the middle layer's gradient
  pinned.seq->forward(random_f32(rng, {5, 9}), Mode::train, ctx);
  pinned.seq->backward(random_f32(rng, {5, 4}), ctx);
  EXPECT_EQ(pinned.linear[1]->last_preactivation_grad().dtype(), DType::f32);
  EXPECT_EQ(pinned.linear[0]->last_preactivation_grad().dtype(), DType::bf16);
}

}  // namespace
}  // namespace kasmina
