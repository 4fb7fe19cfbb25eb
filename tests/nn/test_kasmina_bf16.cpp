// A kasmina layer between two linear layers with the bf16 activations on (nn/layer_sequence.cpp,
// docs/PRECISION.md "The kasmina layers"): which chains hand bf16 through the kasmina layer, and
// a training step of such a chain, with seeds in every stage, equal bit for bit to the ops
// composed by hand with bf16 exactly where the layers store it: the first layer's output, the
// kasmina layer's output, the gradients w.r.t. both, and the first layer's ReLU backward as
// kasmina's bf16 pass (its bias gradient summed over the stored values).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/env_switch.hpp"
#include "core/rng.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/layer_sequence.hpp"
#include "nn/linear.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/common/rel_error.hpp"
#include "tests/morph/morph_test_util.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

using namespace kasmina;
using morph::KasminaLayer;
using morph::MorphConfig;

namespace {

constexpr int64_t kIn = 12, kWidth = 32, kOut = 5, kBatch = 6;

using ops::bf16_test::float_bits;
using ops::bf16_test::ScopedMathMode;

MorphConfig kasmina_config(std::vector<morph::BlueprintKind> kinds) {
  MorphConfig c = morph::testing::small_config(kWidth, 4, 4);  // chunks of 8
  c.hidden = 4;
  c.rank = 3;
  c.allowed_blueprints = std::move(kinds);
  return c;
}

const std::vector<morph::BlueprintKind> kFused = {morph::BlueprintKind::residual_mlp,
                                                  morph::BlueprintKind::low_rank,
                                                  morph::BlueprintKind::diag_scale};

std::unique_ptr<LinearLayer> linear(const std::string& name, int64_t in, int64_t out,
                                    ops::Activation act, uint64_t seed, Device dev) {
  auto l = std::make_unique<LinearLayer>(name, in, out, true, act);
  Rng rng(seed);
  l->initialize(InitScheme::kaiming_uniform, rng, dev);
  return l;
}

// linear kIn -> kWidth (act) | kasmina kWidth | linear kWidth -> kOut, prepared.
struct Chain {
  Chain(ops::Activation act, std::vector<morph::BlueprintKind> kinds, bool tail = true,
        Device dev = Device::cpu()) {
    std::vector<std::unique_ptr<Layer>> layers;
    layers.push_back(linear("l0", kIn, kWidth, act, 1, dev));
    layers.push_back(std::make_unique<KasminaLayer>(kasmina_config(std::move(kinds))));
    if (tail) layers.push_back(linear("l2", kWidth, kOut, ops::Activation::none, 2, dev));
    seq = std::make_unique<LayerSequence>(std::move(layers));
    seq->prepare(kBatch, dev, DType::f32, kIn, true);
  }
  LinearLayer& first() const { return *dynamic_cast<LinearLayer*>(seq->layers()[0].get()); }
  KasminaLayer& kasmina() const { return *dynamic_cast<KasminaLayer*>(seq->layers()[1].get()); }
  LinearLayer& last() const { return *dynamic_cast<LinearLayer*>(seq->layers()[2].get()); }
  std::unique_ptr<LayerSequence> seq;
};

bool hands_bf16(const Chain& c) {
  return c.first().bf16_output() && c.kasmina().bf16_output();
}

}  // namespace

TEST(KasminaBf16Link, WhichChainsHandBf16ThroughTheKasminaLayer) {
  const ScopedMathMode bf16(ops::MathMode::bf16);
  {
    const ScopedSwitch on(bf16_activations, set_bf16_activations, true);
    EXPECT_TRUE(hands_bf16(Chain(ops::Activation::relu, kFused)));
    EXPECT_TRUE(hands_bf16(Chain(ops::Activation::none, kFused)));
    EXPECT_FALSE(hands_bf16(Chain(ops::Activation::gelu, kFused)))
        << "a GELU layer below takes its gradient fused only";
    EXPECT_FALSE(hands_bf16(
        Chain(ops::Activation::relu, {static_cast<morph::BlueprintKind>(morph::kRowMlpKind)})))
        << "row seeds read float32";
    const Chain last(ops::Activation::relu, kFused, /*tail=*/false);
    EXPECT_FALSE(last.first().bf16_output() || last.kasmina().bf16_output())
        << "nothing after the kasmina layer reads bf16";
  }
  const ScopedSwitch off(bf16_activations, set_bf16_activations, false);
  EXPECT_FALSE(hands_bf16(Chain(ops::Activation::relu, kFused))) << "bf16 activations off";
  const ScopedMathMode fp32(ops::MathMode::fp32);
  const ScopedSwitch on(bf16_activations, set_bf16_activations, true);
  EXPECT_FALSE(hands_bf16(Chain(ops::Activation::relu, kFused))) << "fp32 mode";
}

TEST(KasminaBf16Link, StepEqualsTheOpsComposedWithBf16Storage) {
  using ops::bf16_test::to_bf16;
  const ScopedMathMode bf16(ops::MathMode::bf16);
  const ScopedSwitch on(bf16_activations, set_bf16_activations, true);
  Chain c(ops::Activation::relu, kFused);
  ASSERT_TRUE(hands_bf16(c));
  Rng mix_rng(3);
  morph::testing::arrange(c.kasmina(), morph::testing::random_stage_mix(4, mix_rng), 5, 0.2);
  const Tensor x = morph::testing::random_tensor<float>({kBatch, kIn}, 11);
  const Tensor dy = morph::testing::random_tensor<float>({kBatch, kOut}, 12);
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64);

  // The chain, through the layer sequence.
  const std::vector<uint32_t> y_seq = float_bits(c.seq->forward(x, Mode::train, ctx));
  ASSERT_FALSE(c.kasmina().last_forward_was_identity());
  const Tensor dx_seq = c.seq->backward(dy, ctx);
  std::vector<std::vector<uint32_t>> grads_seq;
  for (LinearLayer* l : {&c.first(), &c.last()})
    for (Parameter* p : l->parameters()) grads_seq.push_back(float_bits(p->grad));

  // The same step composed from the ops (the kasmina layer's buffers, its seeds unchanged by
  // the step: end_step is not called).
  const std::vector<Parameter*> p0 = c.first().parameters(), p2 = c.last().parameters();
  const Tensor w0 = to_bf16(p0[0]->value), w2 = to_bf16(p2[0]->value), x16 = to_bf16(x);
  Tensor h0 = Tensor::empty({kBatch, kWidth}, DType::bf16);
  Tensor aux =
      ops::make_linear_aux(kBatch, kWidth, ops::Activation::relu, Device::cpu(), DType::bf16);
  ops::linear_forward(x16, w0, p0[1]->value, ops::Activation::relu, h0, aux);
  Tensor h1 = Tensor::empty({kBatch, kWidth}, DType::bf16);
  ops::morph_forward(c.kasmina().buffers(), h0, h1, ops::MorphForwardOptions{});
  Tensor y = Tensor::empty({kBatch, kOut}), none;
  ops::linear_forward(h1, w2, p2[1]->value, ops::Activation::none, y, none);
  EXPECT_EQ(y_seq, float_bits(y)) << "y";

  const Tensor dy16 = to_bf16(dy);
  Tensor dw2 = Tensor::empty(w2.shape()), db2 = Tensor::empty({kOut});
  ops::linear_backward_weight(dy16, h1, dw2, &db2);
  Tensor dh1 = Tensor::empty({kBatch, kWidth}, DType::bf16);
  ops::linear_backward_input(dy16, w2, ops::Activation::none, Tensor(), dh1, nullptr);
  Tensor dh0 = Tensor::empty({kBatch, kWidth}, DType::bf16);
  ops::morph_backward(c.kasmina().buffers(), h0, dh1, &dh0, false);
  Tensor dpre = Tensor::empty({kBatch, kWidth}, DType::bf16), db0 = Tensor::empty({kWidth});
  ops::activation_backward_aux_bf16(ops::Activation::relu, dh0, aux, dpre, &db0);
  Tensor dw0 = Tensor::empty(w0.shape());
  ops::linear_backward_weight(dpre, x16, dw0, nullptr);
  Tensor dx = Tensor::empty({kBatch, kIn});
  ops::linear_backward_input(dpre, w0, ops::Activation::none, Tensor(), dx, nullptr);
  EXPECT_EQ(float_bits(dx_seq), float_bits(dx)) << "dx";
  const std::vector<std::vector<uint32_t>> grads = {float_bits(dw0), float_bits(db0),
                                                    float_bits(dw2), float_bits(db2)};
  EXPECT_EQ(grads_seq, grads);
  // The chain really rounds: the kasmina layer's blended chunks are not the float32 ones.
  EXPECT_NE(ops::bf16_test::bits(h1), ops::bf16_test::bits(h0));
}

namespace {

// One training step of the linked chain on `dev` (seeds arranged as in the test above): y, dx
// and the linear layers' gradients, widened to float32 on the host.
std::vector<std::vector<float>> linked_step(Device dev) {
  const ScopedMathMode cpu_mode(ops::MathMode::bf16), dev_mode(ops::MathMode::bf16, dev);
  Chain c(ops::Activation::relu, kFused, true, dev);
  EXPECT_TRUE(hands_bf16(c)) << dev.str();
  Rng mix_rng(3);
  morph::testing::arrange(c.kasmina(), morph::testing::random_stage_mix(4, mix_rng), 5, 0.2);
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64, dev);
  std::vector<std::vector<float>> out;
  const Tensor x = morph::testing::random_tensor<float>({kBatch, kIn}, 11, dev);
  out.push_back(c.seq->forward(x, Mode::train, ctx).to(Device::cpu()).to_vector<float>());
  const Tensor dy = morph::testing::random_tensor<float>({kBatch, kOut}, 12, dev);
  out.push_back(c.seq->backward(dy, ctx).to(Device::cpu()).to_vector<float>());
  for (LinearLayer* l : {&c.first(), &c.last()})
    for (Parameter* p : l->parameters())
      out.push_back(p->grad.to(Device::cpu()).to_vector<float>());
  return out;
}

}  // namespace

// CUDA against the CPU: the bf16 GEMMs, the fused morph kernels on bf16 and kasmina's bf16 pass
// on the GPU; the same stores rounded on both devices, float32 sums in another order moving a
// rounded value to its neighbour now and then (as CudaModelStep.FmnistMlpMatchesCpuBf16).
TEST(KasminaBf16Link, CudaStepMatchesCpu) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: the linked chain on CUDA not run";
  const ScopedSwitch on(bf16_activations, set_bf16_activations, true);
  const auto cpu = linked_step(Device::cpu()), gpu = linked_step(Device::cuda(0));
  ASSERT_EQ(cpu.size(), gpu.size());
  const char* what[] = {"y",           "dx", "l0.weight grad", "l0.bias grad", "l2.weight grad",
                        "l2.bias grad"};
  for (size_t i = 0; i < cpu.size(); ++i)
    EXPECT_LT(kasmina::testing::rel_error(gpu[i], cpu[i]), 1e-2) << what[i];
}

// The gradient score (nn/gradient_score.hpp) of a kasmina layer on bf16 activations: the outer
// product of the bf16 gradient and input, summed in float32 (the bf16 weight-gradient GEMM),
// against the same sums in double over the widened values.
TEST(KasminaBf16Link, GradientScoreReadsTheBf16Activations) {
  using ops::bf16_test::to_bf16;
  MorphConfig cfg = kasmina_config(kFused);
  cfg.telemetry_every = 1;
  KasminaLayer layer(cfg);
  layer.set_bf16_io(true);
  layer.prepare(kBatch, Device::cpu());
  ASSERT_TRUE(layer.bf16_output());
  layer.enable_gradient_score();
  morph::testing::StepClock clock(Device::cpu());
  const Tensor x = to_bf16(morph::testing::random_tensor<float>({kBatch, kWidth}, 21));
  const Tensor dy = to_bf16(morph::testing::random_tensor<float>({kBatch, kWidth}, 22));
  EXPECT_EQ(layer.forward(x, Mode::train, clock.ctx).dtype(), DType::bf16);
  Tensor dx = Tensor::zeros({kBatch, kWidth}, DType::bf16);
  layer.backward(dy, &dx, clock.ctx);
  EXPECT_EQ(ops::bf16_test::bits(dx), ops::bf16_test::bits(dy))
      << "dormant seeds: the gradient passes unchanged";
  layer.end_step(clock.ctx);
  const std::vector<float> xv = ops::bf16_test::widen(x).to_vector<float>();
  const std::vector<float> gv = ops::bf16_test::widen(dy).to_vector<float>();
  const int64_t C = kWidth / cfg.seeds;
  const auto& t = layer.last_telemetry();
  ASSERT_EQ(t.size(), static_cast<size_t>(cfg.seeds));
  for (int32_t s = 0; s < cfg.seeds; ++s) {
    double expected = 0.0;
    for (int64_t j = C * s; j < C * (s + 1); ++j) {
      double sq = 0.0;
      for (int64_t k = 0; k < kWidth; ++k) {
        double m = 0.0;
        for (int64_t b = 0; b < kBatch; ++b)
          m += double{gv[b * kWidth + j]} * double{xv[b * kWidth + k]};
        sq += m * m;
      }
      expected += std::sqrt(sq);
    }
    EXPECT_NEAR(t[static_cast<size_t>(s)].grad_score, expected, 1e-5 * expected) << s;
  }
}
