// Helpers of the whole-model gradient tests: a layer config in one call, and every parameter
// gradient of a float64 model against central finite differences on the CPU.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "config/layers/dropout.hpp"
#include "config/layers/kasmina.hpp"
#include "config/layers/layernorm.hpp"
#include "config/layers/linear.hpp"
#include "config/layers/residual.hpp"
#include "core/rng.hpp"
#include "nn/model.hpp"
#include "ops/ops.hpp"

namespace kasmina::testing {

inline LayerConfig layer(LayerType t, int64_t out = 0, double p = 0.0) {
  LayerConfig l(t);
  if (t == LayerType::linear) l.as<LinearConfig>().out = out;
  if (t == LayerType::dropout) l.as<DropoutConfig>().p = p;
  return l;
}

// Sum of per-sample cross-entropy losses / B for the model on (x, y) at a fixed step.
inline double loss_of(Model& m, const Tensor& x, const Tensor& y, const StepContext& ctx) {
  Tensor sum = Tensor::zeros({1}, DType::f64);
  const Tensor logits = m.forward(x, Mode::train, ctx);
  ops::softmax_xent(logits, y, 1.0f, nullptr, sum, nullptr);
  return sum.to_vector<double>()[0] / static_cast<double>(x.dim(0));
}

// Checks every parameter gradient of the float64 model of `cfg` (inputs of shape `input`: a
// width, or an image such as SampleShape::flat_image({4, 4, 1}); parameters from `model_seed`)
// on a batch of normal inputs (from `input_seed`) with `labels` (one a sample, of `classes`
// classes) against central differences; returns the number of values checked.
inline int check_model_gradients(const ModelConfig& cfg, const SampleShape& input, int64_t classes,
                                 uint64_t model_seed, uint64_t input_seed,
                                 const std::vector<int32_t>& labels) {
  const auto B = static_cast<int64_t>(labels.size());
  const int64_t D = input.values();
  Model m(cfg, input, model_seed, Device::cpu(), DType::f64);
  m.prepare(B);
  Rng rng(input_seed);
  std::vector<double> xv(static_cast<size_t>(B * D));
  for (double& v : xv) v = rng.normal();
  const Tensor x = Tensor::from_vector(xv, {B * input.rows, input.width});
  const Tensor y = Tensor::from_vector<int32_t>(labels, {B});
  StepContext ctx;
  ctx.seed = 5;
  ctx.step = Tensor::from_vector<int64_t>({3}, {1});

  Tensor sum = Tensor::zeros({1}, DType::f64);
  Tensor dlogits = Tensor::empty({B, classes}, DType::f64);
  const Tensor logits = m.forward(x, Mode::train, ctx);
  ops::softmax_xent(logits, y, 1.0f / static_cast<float>(B), &dlogits, sum, nullptr);
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
      EXPECT_NEAR(analytic[static_cast<size_t>(i)], numeric,
                  1e-6 * std::max(1.0, std::fabs(numeric)))
          << p->name << "[" << i << "]";
      ++checked;
    }
  }
  return checked;
}

}  // namespace kasmina::testing
