// The small width-growing MLP of the width-seed tests: kIn -> kHidden (grow_from, 3 steps) ->
// relu|gelu -> kClasses, float64 on the CPU, one fixed batch.
#pragma once
#include <cstring>
#include <string>
#include <vector>

#include "nn/model.hpp"
#include "nn/width_grow_linear.hpp"
#include "ops/ops.hpp"
#include "tests/nn/gradient_check.hpp"

namespace kasmina::widthtest {

using kasmina::testing::layer;

constexpr int64_t kIn = 5, kHidden = 16, kClasses = 3, kBatch = 7;

inline ModelConfig grow_mlp(int64_t from, const std::string& init = "preserving",
                            LayerType between = LayerType::relu,
                            const std::string& schedule = "fixed") {
  ModelConfig cfg;
  LayerConfig g = layer(LayerType::linear, kHidden);
  g.as<LinearConfig>().grow_from = from;
  g.as<LinearConfig>().grow_epochs = 3;
  g.as<LinearConfig>().grow_init = init;
  g.as<LinearConfig>().grow_schedule = schedule;
  cfg.layers = {g, layer(between), layer(LayerType::linear, kClasses)};
  return cfg;
}

struct Net {
  Model model;
  WidthGrowLinear* grow;
  Tensor x, y;
  StepContext ctx;
  explicit Net(const ModelConfig& cfg) : model(cfg, kIn, 11, Device::cpu(), DType::f64) {
    grow = dynamic_cast<WidthGrowLinear*>(model.layers()[0].get());
    model.prepare(kBatch);
    Rng rng(3);
    std::vector<double> xv(static_cast<size_t>(kBatch * kIn));
    for (double& v : xv) v = rng.normal();
    x = Tensor::from_vector(xv, {kBatch, kIn});
    y = Tensor::from_vector<int32_t>({0, 1, 2, 0, 1, 2, 0}, {kBatch});
    ctx.seed = 1;
    ctx.step = Tensor::from_vector<int64_t>({0}, {1});
  }
  std::vector<double> logits() { return model.forward(x, Mode::train, ctx).to_vector<double>(); }
  void backward() {
    Tensor sum = Tensor::zeros({1}, DType::f64);
    Tensor dlogits = Tensor::empty({kBatch, kClasses}, DType::f64);
    ops::softmax_xent(model.forward(x, Mode::train, ctx), y, 1.0f / kBatch, &dlogits, sum, nullptr);
    model.backward(dlogits, ctx);
  }
  std::vector<double> w1() { return model.parameters()[0]->value.to_vector<double>(); }
  std::vector<double> w2() { return model.parameters()[2]->value.to_vector<double>(); }
};

inline bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace kasmina::widthtest
