// The in-place forward of a kasmina layer (ops::MorphForwardOptions::in_place) and its backward
// (morph_backward_saved) on the CPU: bit for bit the copy ops' output, statistics, input
// gradient and blueprint gradients, with x put back by the backward; the layer sequence's
// choice of when a kasmina layer runs in place (its input made by a layer before it, dy its own
// buffer), and a training step of a chain equal bit for bit with in place on and off. The CUDA
// kernels against these twins: tests/ops/cuda/entries_morph_in_place.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/env_switch.hpp"
#include "core/rng.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/layer_sequence.hpp"
#include "nn/linear.hpp"
#include "ops/ops.hpp"
#include "tests/morph/morph_test_util.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina::morph {
namespace {

using testing::bitwise_equal;

Tensor random_activations(DType dt, const Shape& shape, uint64_t seed) {
  if (dt == DType::f64) return testing::random_tensor<double>(shape, seed);
  const Tensor f = testing::random_tensor<float>(shape, seed);
  return dt == DType::bf16 ? ops::bf16_test::to_bf16(f) : f;
}

// Two layers with the same random mix of every stage: `ref` runs the copy ops, `inp` the
// in-place ones (its buffers with saved rows in the activations' type).
struct Pair {
  Pair(int32_t S, int32_t C, int64_t B, DType act, uint64_t mix_seed)
      : cfg(config(S, C)),
        ref(cfg, act == DType::f64 ? DType::f64 : DType::f32),
        inp(cfg, act == DType::f64 ? DType::f64 : DType::f32) {
    ref.prepare(B, Device::cpu());
    inp.prepare(B, Device::cpu());
    Rng r1(mix_seed), r2(mix_seed);
    testing::arrange(ref, testing::random_stage_mix(S, r1), 5, 0.2);
    testing::arrange(inp, testing::random_stage_mix(S, r2), 5, 0.2);
    L = inp.buffers();
    L.saved_rows = B;
    L.saved = Tensor::empty({int64_t{L.pool_slots} * B, C}, act);
  }
  static MorphConfig config(int32_t S, int32_t C) {
    MorphConfig c = testing::small_config(int64_t{S} * C, S, S + 2);
    c.hidden = 4;
    c.rank = 3;
    return c;
  }
  MorphConfig cfg;
  KasminaLayer ref, inp;
  ops::MorphLayerBuffers L;
};

int32_t blended_seeds(KasminaLayer& l) {
  HostSeedState h = l.seed_state().download();
  const SeedStateView v = h.view();
  int32_t n = 0;
  for (int32_t s = 0; s < v.seeds; ++s) n += blend_applies(v.stage[s], v.alpha[s]) ? 1 : 0;
  return n;
}

void forward_backward_equal(int32_t S, int32_t C, int64_t B, DType act, bool collect, bool alias) {
  const std::string tag = "S" + std::to_string(S) + " C" + std::to_string(C) + " B" +
                          std::to_string(B) + " " + dtype_name(act) + (collect ? " stats" : "") +
                          (alias ? " dx=dy" : " dx apart");
  Pair p(S, C, B, act, 17 + S + C);
  ASSERT_GT(blended_seeds(p.inp), 0) << tag << ": the mix blends no seed";
  const Tensor x = random_activations(act, {B, int64_t{S} * C}, 5);
  const Tensor dy = random_activations(act, {B, int64_t{S} * C}, 6);
  ops::MorphForwardOptions opt;
  opt.collect_stats = collect;

  Tensor out = Tensor::zeros(x.shape(), act);
  ops::morph_forward(p.ref.buffers(), x, out, opt);
  Tensor xi = x.to(x.device());
  ops::MorphForwardOptions in = opt;
  in.in_place = true;
  ops::morph_forward(p.L, xi, xi, in);
  EXPECT_TRUE(bitwise_equal(out, xi)) << tag << ": the in-place output";
  EXPECT_TRUE(bitwise_equal(p.ref.buffers().step_stats, p.L.step_stats)) << tag;
  EXPECT_TRUE(bitwise_equal(p.ref.buffers().telemetry, p.L.telemetry)) << tag;
  EXPECT_FALSE(bitwise_equal(x, xi)) << tag << ": nothing was blended";

  Tensor dx = Tensor::zeros(x.shape(), act);
  ops::morph_backward(p.ref.buffers(), x, dy, &dx, true);
  Tensor dyi = dy.to(dy.device());
  Tensor dxi = alias ? dyi : Tensor::zeros(x.shape(), act);
  ops::morph_backward_saved(p.L, xi, dyi, &dxi, true);
  EXPECT_TRUE(bitwise_equal(dx, dxi)) << tag << ": the input gradient";
  if (!alias) EXPECT_TRUE(bitwise_equal(dy, dyi)) << tag << ": dy was written";
  EXPECT_TRUE(bitwise_equal(x, xi)) << tag << ": x not put back";
  EXPECT_TRUE(bitwise_equal(p.ref.buffers().pool, p.L.pool)) << tag << ": the blueprint gradients";
  EXPECT_TRUE(bitwise_equal(p.ref.buffers().grad_norm, p.L.grad_norm)) << tag;
  EXPECT_TRUE(bitwise_equal(p.ref.buffers().step_stats, p.L.step_stats)) << tag;
}

TEST(MorphInPlace, EqualsTheCopyOpsBitForBit) {
  for (const DType act : {DType::f32, DType::f64, DType::bf16})
    for (const bool collect : {true, false})
      for (const bool alias : {true, false}) {
        forward_backward_equal(24, 8, 37, act, collect, alias);
        forward_backward_equal(9, 12, 5, act, collect, alias);
      }
}

TEST(MorphInPlace, ChecksItsArguments) {
  Pair p(6, 4, 3, DType::f32, 2);
  Tensor x = random_activations(DType::f32, {3, 24}, 1);
  Tensor out = Tensor::zeros({3, 24});
  ops::MorphForwardOptions in;
  in.in_place = true;
  EXPECT_THROW(ops::morph_forward(p.L, x, out, in), std::exception) << "out is not x";
  ops::MorphLayerBuffers none = p.L;
  none.saved = Tensor();
  EXPECT_THROW(ops::morph_forward(none, x, x, in), std::exception) << "no saved rows";
  Tensor big = random_activations(DType::f32, {4, 24}, 1);
  EXPECT_THROW(ops::morph_forward(p.L, big, big, in), std::exception) << "batch past saved_rows";
  ops::MorphForwardOptions copy;
  EXPECT_THROW(ops::morph_forward(p.L, x, x, copy), std::exception) << "a copy onto x";
  EXPECT_THROW(ops::morph_backward_saved(none, x, out, nullptr, true), std::exception);
}

// linear (ReLU) | kasmina | kasmina | linear, seeds of both kasmina layers in every stage.
struct Chain {
  explicit Chain(bool first_kasmina = false) {
    std::vector<std::unique_ptr<Layer>> layers;
    if (!first_kasmina) layers.push_back(linear("l0", kIn, kWidth, ops::Activation::relu, 1));
    layers.push_back(std::make_unique<KasminaLayer>(Pair::config(4, 8)));
    layers.push_back(std::make_unique<KasminaLayer>(Pair::config(8, 4)));
    layers.push_back(linear("l3", kWidth, kOut, ops::Activation::none, 2));
    seq = std::make_unique<LayerSequence>(std::move(layers));
    seq->prepare(kBatch, Device::cpu(), DType::f32, first_kasmina ? kWidth : kIn, true);
    for (size_t i = 0, k = 0; i < seq->layers().size(); ++i)
      if (auto* l = dynamic_cast<KasminaLayer*>(seq->layers()[i].get())) {
        Rng rng(40 + k++);
        testing::arrange(*l, testing::random_stage_mix(l->buffers().seeds, rng), 5, 0.3);
        kasmina.push_back(l);
      }
  }
  static std::unique_ptr<LinearLayer> linear(const std::string& name, int64_t in, int64_t out,
                                             ops::Activation act, uint64_t seed) {
    auto l = std::make_unique<LinearLayer>(name, in, out, true, act);
    Rng rng(seed);
    l->initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
    return l;
  }
  static constexpr int64_t kIn = 10, kWidth = 32, kOut = 3, kBatch = 7;
  std::unique_ptr<LayerSequence> seq;
  std::vector<KasminaLayer*> kasmina;
};

// y, dx, every parameter gradient and the kasmina layers' pools and step measurements after one
// step (copies on the CPU).
std::vector<Tensor> chain_step(Chain& c, const Tensor& x, const Tensor& dy) {
  testing::StepClock clock(Device::cpu());
  std::vector<Tensor> out;
  out.push_back(c.seq->forward(x, Mode::train, clock.ctx).to(Device::cpu()));
  out.push_back(c.seq->backward(dy, clock.ctx).to(Device::cpu()));
  for (const auto& l : c.seq->layers())
    for (Parameter* p : l->parameters()) out.push_back(p->grad.to(Device::cpu()));
  for (KasminaLayer* k : c.kasmina) {
    out.push_back(k->buffers().pool.to(Device::cpu()));
    out.push_back(k->buffers().step_stats.to(Device::cpu()));
  }
  return out;
}

// The kasmina layers' accumulated telemetry (copies on the CPU).
std::vector<Tensor> chain_telemetry(const Chain& c) {
  std::vector<Tensor> out;
  for (const KasminaLayer* k : c.kasmina) out.push_back(k->buffers().telemetry.to(Device::cpu()));
  return out;
}

void expect_all_bitwise_equal(const std::vector<Tensor>& a, const std::vector<Tensor>& b,
                              const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(bitwise_equal(a[i], b[i])) << what << " " << i;
}

TEST(MorphInPlace, TheSequenceRunsLayersInPlaceOnlyOverItsOwnBuffers) {
  const Tensor x = random_activations(DType::f32, {Chain::kBatch, Chain::kIn}, 3);
  const Tensor dy = random_activations(DType::f32, {Chain::kBatch, Chain::kOut}, 4);
  std::vector<Tensor> off, on, off_tel, on_tel;
  {
    const ScopedSwitch sw(morph_in_place, set_morph_in_place, false);
    Chain c;
    off = chain_step(c, x, dy);
    off_tel = chain_telemetry(c);
    EXPECT_FALSE(c.kasmina[0]->last_forward_in_place());
  }
  {
    const ScopedSwitch sw(morph_in_place, set_morph_in_place, true);
    Chain c;
    const Tensor x_before = x.to(Device::cpu());
    on = chain_step(c, x, dy);
    on_tel = chain_telemetry(c);
    ASSERT_FALSE(c.kasmina[0]->last_forward_was_identity());
    EXPECT_TRUE(c.kasmina[0]->last_forward_in_place()) << "after a linear layer";
    EXPECT_TRUE(c.kasmina[1]->last_forward_in_place()) << "after a kasmina layer in place";
    EXPECT_TRUE(bitwise_equal(x_before, x));
    // The same step once more gives the same bits (nothing the first step left behind, the
    // saved rows included, changes it; the telemetry accumulates, so it is left out).
    expect_all_bitwise_equal(on, chain_step(c, x, dy), "a second step of the same chain: result");
  }
  expect_all_bitwise_equal(off, on, "in place off and on: result");
  expect_all_bitwise_equal(off_tel, on_tel, "in place off and on: telemetry");

  // A kasmina layer first in its sequence reads the sequence's input: never in place.
  const ScopedSwitch sw(morph_in_place, set_morph_in_place, true);
  Chain first(/*first_kasmina=*/true);
  const Tensor xk = random_activations(DType::f32, {Chain::kBatch, Chain::kWidth}, 8);
  const Tensor xk_before = xk.to(Device::cpu());
  chain_step(first, xk, dy);
  EXPECT_FALSE(first.kasmina[0]->last_forward_in_place());
  EXPECT_TRUE(first.kasmina[1]->last_forward_in_place());
  EXPECT_TRUE(bitwise_equal(xk_before, xk)) << "the sequence's input was written";
}

}  // namespace
}  // namespace kasmina::morph
