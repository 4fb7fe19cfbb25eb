// bf16 attention (nn/transformer_layers.hpp, docs/PRECISION.md "Attention"): with the switch on
// in bf16 mode, an attention layer's training step (output, input gradient, every parameter
// gradient) equals, bit for bit, the ops composed by hand with bf16 exactly where the layer
// stores it: the qkv projection's output, the attention's output and the gradients w.r.t. both.
// Switched off, or in fp32 mode, the layer's buffers stay float32 and its output differs from
// that composition.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/env_switch.hpp"
#include "core/rng.hpp"
#include "nn/transformer_layers.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"
#include "ops/transformer_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

using namespace kasmina;

namespace {

constexpr int64_t kBatch = 3, kTokens = 5, kDim = 16, kHeads = 2;

using ops::bf16_test::float_bits;
using ops::bf16_test::ScopedMathMode;

// The step's results: y, dx, then the parameter gradients in the layer's order.
struct Step {
  std::vector<std::vector<uint32_t>> tensors;
};

AttentionLayer make_layer() {
  AttentionLayer l("a", kTokens, kDim, kHeads, /*bias=*/true);
  Rng rng(41);
  l.initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
  l.set_in_rows(kTokens);
  l.prepare(kBatch * kTokens, Device::cpu());
  return l;
}

Tensor random_rows(uint64_t seed) {
  Rng rng(seed);
  return ops::bf16_test::random_f32(rng, {kBatch * kTokens, kDim});
}

Step layer_step(AttentionLayer& l) {
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64);
  Step s;
  s.tensors.push_back(float_bits(l.forward(random_rows(1), Mode::train, ctx)));
  Tensor dx = Tensor::empty({kBatch * kTokens, kDim});
  l.backward(random_rows(2), &dx, ctx);
  s.tensors.push_back(float_bits(dx));
  for (Parameter* p : l.parameters()) s.tensors.push_back(float_bits(p->grad));
  return s;
}

// The composition the file comment describes, from the layer's parameters.
Step composed_step(AttentionLayer& l) {
  using ops::bf16_test::to_bf16;
  const std::vector<Parameter*> ps = l.parameters();  // qkv W, b, proj W, b
  const Tensor wq = to_bf16(ps[0]->value), wp = to_bf16(ps[2]->value);
  const int64_t rows = kBatch * kTokens;
  const Tensor x = to_bf16(random_rows(1));
  Tensor qkv = Tensor::empty({rows, 3 * kDim}, DType::bf16), none;
  ops::linear_forward(x, wq, ps[1]->value, ops::Activation::none, qkv, none);
  Tensor att = Tensor::empty({rows, kDim}, DType::bf16);
  Tensor lse = Tensor::empty({kBatch, kHeads, kTokens});
  Tensor att3 = att.view({kBatch, kTokens, kDim});
  ops::attention_forward(qkv.view({kBatch, kTokens, 3 * kDim}), kHeads, att3, lse);
  Tensor y = Tensor::empty({rows, kDim});
  ops::linear_forward(att, wp, ps[3]->value, ops::Activation::none, y, none);

  const Tensor dy = to_bf16(random_rows(2));
  Tensor dwp = Tensor::empty(wp.shape()), dbp = Tensor::empty({kDim});
  ops::linear_backward_weight(dy, att, dwp, &dbp);
  Tensor datt = Tensor::empty({rows, kDim}, DType::bf16);
  ops::linear_backward_input(dy, wp, ops::Activation::none, Tensor(), datt, nullptr);
  Tensor dqkv = Tensor::empty({rows, 3 * kDim}, DType::bf16);
  Tensor dqkv3 = dqkv.view({kBatch, kTokens, 3 * kDim});
  ops::attention_backward(datt.view({kBatch, kTokens, kDim}), qkv.view({kBatch, kTokens, 3 * kDim}),
                          lse, kHeads, dqkv3);
  Tensor dwq = Tensor::empty(wq.shape()), dbq = Tensor::empty({3 * kDim});
  ops::linear_backward_weight(dqkv, x, dwq, &dbq);
  Tensor dx = Tensor::empty({rows, kDim});
  ops::linear_backward_input(dqkv, wq, ops::Activation::none, Tensor(), dx, nullptr);
  return {{float_bits(y), float_bits(dx), float_bits(dwq), float_bits(dbq), float_bits(dwp),
           float_bits(dbp)}};
}

const char* kWhat[] = {
    "y", "dx", "qkv.weight grad", "qkv.bias grad", "proj.weight grad", "proj.bias grad"};

}  // namespace

TEST(AttentionLayerBf16, StepEqualsTheOpsComposedWithBf16Storage) {
  const ScopedMathMode bf16(ops::MathMode::bf16);
  const ScopedSwitch on(bf16_attention, set_bf16_attention, true);
  AttentionLayer l = make_layer();
  const Step got = layer_step(l), want = composed_step(l);
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i)
    EXPECT_EQ(got.tensors[i], want.tensors[i]) << kWhat[i];
}

TEST(AttentionLayerBf16, SwitchedOffTheAttentionStaysFloat32) {
  const ScopedMathMode bf16(ops::MathMode::bf16);
  const ScopedSwitch off(bf16_attention, set_bf16_attention, false);
  AttentionLayer l = make_layer();
  const Step got = layer_step(l), bf16_storage = composed_step(l);
  EXPECT_NE(got.tensors[0], bf16_storage.tensors[0]) << "y: qkv and the output not rounded";
  // In fp32 mode the switch changes nothing.
  const ScopedMathMode fp32(ops::MathMode::fp32);
  AttentionLayer plain = make_layer();
  const Step fp32_off = layer_step(plain);
  const ScopedSwitch on(bf16_attention, set_bf16_attention, true);
  AttentionLayer switched = make_layer();
  EXPECT_EQ(layer_step(switched).tensors, fp32_off.tensors);
}
