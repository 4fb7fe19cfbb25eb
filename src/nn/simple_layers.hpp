// Parameter-light layers of the host network: standalone activations, LayerNorm, dropout.
#pragma once
#include <memory>

#include "config/config.hpp"
#include "nn/layer.hpp"
#include "ops/ops.hpp"

namespace kasmina {

struct LayerBuildContext;

// relu / gelu not fused into a preceding linear layer (e.g. after layernorm).
class ActivationLayer final : public Layer {
 public:
  ActivationLayer(ops::Activation act, int64_t width, DType dtype = DType::f32)
      : act_(act), width_(width), dtype_(dtype) {}
  std::string type() const override { return ops::activation_name(act_); }
  std::string describe() const override;
  ops::Activation pointwise_activation() const override { return act_; }
  int64_t in_width() const override { return width_; }
  int64_t out_width() const override { return width_; }
  // The activation forward and, with the input gradient, its backward (nn/flops.hpp).
  double train_flops(int64_t batch, bool input_grad) const override;
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

 private:
  ops::Activation act_;
  int64_t width_;
  DType dtype_;
  Tensor y_, x_batch_;
};

// A normalisation's affine parameters: "<name>.weight" = 1 and "<name>.bias" = 0 (width values),
// with zero gradients (layernorm, batchnorm2d).
void make_scale_and_shift(const std::string& name, int64_t width, DType dtype, Device dev,
                          Parameter& gamma, Parameter& beta);

class LayerNormLayer final : public Layer {
 public:
  LayerNormLayer(std::string name, int64_t width, float eps, Device dev, DType dtype = DType::f32);
  std::string type() const override { return "layernorm"; }
  std::string describe() const override;
  int64_t in_width() const override { return width_; }
  int64_t out_width() const override { return width_; }
  std::vector<Parameter*> parameters() override { return {&gamma_, &beta_}; }
  // Per element: forward 8 (mean 1, variance 3, normalise 2, scale and shift 2); backward 3 for
  // dgamma and dbeta and, with the input gradient, 8 more (dy gamma, the two row means 3,
  // rstd (dxhat - m1 - xhat m2) 4).
  double train_flops(int64_t batch, bool input_grad) const override;
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

 private:
  int64_t width_;
  float eps_;
  DType dtype_;
  Parameter gamma_, beta_;
  Tensor y_, mean_, rstd_, x_batch_;
};

// Inverted dropout; the identity (no copy) in eval mode or with p = 0. The mask stream is
// (run seed, layer index, step), so CPU and CUDA runs draw the same masks.
class DropoutLayer final : public Layer {
 public:
  DropoutLayer(float p, int64_t width, uint32_t stream, DType dtype = DType::f32)
      : p_(p), width_(width), stream_(stream), dtype_(dtype) {}
  std::string type() const override { return "dropout"; }
  std::string describe() const override;
  int64_t in_width() const override { return width_; }
  int64_t out_width() const override { return width_; }
  // The mask product forward and backward (1 per element each; the mask draw is not counted);
  // 0 with p = 0 (the identity).
  double train_flops(int64_t batch, bool input_grad) const override;
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

 private:
  float p_;
  int64_t width_;
  uint32_t stream_;
  DType dtype_;
  Tensor y_, mask_, mask_batch_;
  bool last_was_identity_ = true;
};

// The registry's builders for `type: relu | gelu`, `layernorm` and `dropout`.
std::unique_ptr<Layer> build_activation_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_layernorm_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_dropout_layer(const LayerConfig& cfg, LayerBuildContext& ctx);

}  // namespace kasmina
