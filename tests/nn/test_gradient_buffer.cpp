// All parameter gradients of a model in one flat, aligned buffer: every gradient is a view into
// it (aligned, disjoint, in parameter order), and a backward writes the same values into the
// views as into separate buffers.
#include <gtest/gtest.h>

#include <cstdint>

#include "config/layers/linear.hpp"
#include "config/layers/residual.hpp"
#include "core/rng.hpp"
#include "nn/model.hpp"
#include "ops/ops.hpp"

using namespace kasmina;

namespace {

LayerConfig layer(LayerType t, int64_t out = 0) {
  LayerConfig l(t);
  if (t == LayerType::linear) l.as<LinearConfig>().out = out;
  return l;
}

ModelConfig mlp_with_block() {
  ModelConfig cfg;
  LayerConfig block(LayerType::residual);
  block.as<ResidualConfig>().layers = {layer(LayerType::layernorm), layer(LayerType::linear, 7),
                                       layer(LayerType::gelu), layer(LayerType::linear, 5)};
  cfg.layers = {layer(LayerType::linear, 5), layer(LayerType::relu), block,
                layer(LayerType::linear, 3)};
  return cfg;
}

}  // namespace

TEST(GradientBuffer, EveryGradientIsAnAlignedViewOfTheFlatBuffer) {
  Model m(mlp_with_block(), 9, 1, Device::cpu());
  const Tensor& flat = m.gradient_buffer().flat();
  const auto* base = static_cast<const char*>(flat.raw());
  const std::vector<Parameter*> ps = m.parameters();
  ASSERT_EQ(ps.size(), 10u);
  ASSERT_EQ(m.gradient_buffer().offsets().size(), ps.size());
  int64_t end = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    const Parameter& p = *ps[i];
    EXPECT_EQ(p.grad.shape(), p.value.shape()) << p.name;
    const auto* at = static_cast<const char*>(p.grad.raw());
    const auto offset = static_cast<size_t>(at - base);
    EXPECT_EQ(offset, static_cast<size_t>(m.gradient_buffer().offsets()[i]) * sizeof(float));
    EXPECT_EQ(offset % GradientBuffer::kAlignmentBytes, 0u) << p.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(at) % 64, 0u) << p.name;  // host allocations: 64
    EXPECT_GE(static_cast<int64_t>(offset / sizeof(float)), end) << p.name << " overlaps";
    end = static_cast<int64_t>(offset / sizeof(float)) + p.grad.numel();
  }
  EXPECT_LE(end, flat.numel());
  for (float v : flat.to_vector<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(GradientBuffer, BackwardWritesTheSameValuesAsIntoSeparateBuffers) {
  const int64_t B = 6, D = 9;
  Model m(mlp_with_block(), D, 3, Device::cpu());
  m.prepare(B);
  Rng rng(11);
  std::vector<float> xv(B * D);
  for (float& v : xv) v = static_cast<float>(rng.normal());
  const Tensor x = Tensor::from_vector(xv, {B, D});
  const Tensor y = Tensor::from_vector<int32_t>({0, 1, 2, 2, 1, 0}, {B});
  StepContext ctx;
  ctx.step = Tensor::from_vector<int64_t>({0}, {1});
  auto step = [&] {
    Tensor sum = Tensor::zeros({1}, DType::f64);
    Tensor dlogits = Tensor::empty({B, 3});
    const Tensor logits = m.forward(x, Mode::train, ctx);
    ops::softmax_xent(logits, y, 1.0f / B, &dlogits, sum, nullptr);
    m.backward(dlogits, ctx);
  };
  step();
  const std::vector<float> flat = m.gradient_buffer().flat().to_vector<float>();
  std::vector<std::vector<float>> in_views;
  for (Parameter* p : m.parameters()) in_views.push_back(p->grad.to_vector<float>());
  // The same step with every gradient in its own allocation.
  for (Parameter* p : m.parameters()) p->grad = Tensor::zeros(p->value.shape());
  step();
  const std::vector<Parameter*> ps = m.parameters();
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(ps[i]->grad.to_vector<float>(), in_views[i]) << ps[i]->name;
    const int64_t off = m.gradient_buffer().offsets()[i];
    const std::vector<float> slice(flat.begin() + off, flat.begin() + off + ps[i]->grad.numel());
    EXPECT_EQ(slice, in_views[i]) << ps[i]->name;
  }
}
