// Whole-model gradients (every layer type, fused and unfused linear/activation paths, the
// loss) against central finite differences, in float64 on the CPU.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.hpp"
#include "nn/model.hpp"
#include "ops/ops.hpp"

using namespace kasmina;

namespace {

LayerConfig layer(LayerType t, int64_t out = 0, double p = 0.0) {
  LayerConfig l;
  l.type = t;
  l.out = out;
  l.p = p;
  return l;
}

// Sum of per-sample cross-entropy losses / B for the model on (x, y) at a fixed step.
double loss_of(Model& m, const Tensor& x, const Tensor& y, const StepContext& ctx) {
  Tensor sum = Tensor::zeros({1}, DType::f64);
  const Tensor logits = m.forward(x, Mode::train, ctx);
  ops::softmax_xent(logits, y, 1.0f, nullptr, sum, nullptr);
  return sum.to_vector<double>()[0] / static_cast<double>(x.dim(0));
}

}  // namespace

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
  const int64_t B = 4, D = 5;
  Model m(cfg, D, 123, Device::cpu(), DType::f64);
  m.prepare(B);
  Rng rng(99);
  std::vector<double> xv(B * D);
  for (double& v : xv) v = rng.normal();
  const Tensor x = Tensor::from_vector(xv, {B, D});
  const Tensor y = Tensor::from_vector<int32_t>({0, 2, 1, 2}, {B});
  StepContext ctx;
  ctx.seed = 5;
  ctx.step = Tensor::from_vector<int64_t>({3}, {1});

  Tensor sum = Tensor::zeros({1}, DType::f64);
  Tensor dlogits = Tensor::empty({B, 3}, DType::f64);
  const Tensor logits = m.forward(x, Mode::train, ctx);
  ops::softmax_xent(logits, y, 1.0f / B, &dlogits, sum, nullptr);
  m.backward(dlogits, ctx);

  int checked = 0;
  for (Parameter* p : m.parameters()) {
    double* w = p->value.data<double>();
    const std::vector<double> analytic = p->grad.to_vector<double>();
    for (int64_t i = 0; i < p->value.numel(); ++i) {
      const double keep = w[i], h = 1e-6;
      w[i] = keep + h;
      const double lp = loss_of(m, x, y, ctx);
      w[i] = keep - h;
      const double lm = loss_of(m, x, y, ctx);
      w[i] = keep;
      const double numeric = (lp - lm) / (2 * h);
      const double a = analytic[static_cast<size_t>(i)];
      EXPECT_NEAR(a, numeric, 1e-6 * std::max(1.0, std::fabs(numeric)))
          << p->name << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(ModelBuilder, FusesLinearWithFollowingActivation) {
  ModelConfig cfg;
  cfg.layers = {layer(LayerType::linear, 8), layer(LayerType::relu), layer(LayerType::dropout, 0, 0.1),
                layer(LayerType::linear, 2)};
  Model m(cfg, 3, 1, Device::cpu());
  ASSERT_EQ(m.layers().size(), 3u);
  EXPECT_EQ(m.describe()[0], "linear 3 -> 8 + relu (fused)");
  EXPECT_EQ(m.parameter_count(), 3 * 8 + 8 + 8 * 2 + 2);
  // Same seed -> same parameters; another seed -> different.
  Model m2(cfg, 3, 1, Device::cpu()), m3(cfg, 3, 2, Device::cpu());
  EXPECT_EQ(m.parameters()[0]->value.to_vector<float>(), m2.parameters()[0]->value.to_vector<float>());
  EXPECT_NE(m.parameters()[0]->value.to_vector<float>(), m3.parameters()[0]->value.to_vector<float>());
}
