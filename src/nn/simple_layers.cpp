#include "nn/simple_layers.hpp"

#include <sstream>

#include "config/layers/dropout.hpp"
#include "config/layers/layernorm.hpp"
#include "nn/flops.hpp"
#include "nn/layer_registry.hpp"

namespace kasmina {

// ---- ActivationLayer ----

double ActivationLayer::train_flops(int64_t batch, bool input_grad) const {
  const double n = static_cast<double>(batch * width_);
  return flops::activation(act_, n, false) + (input_grad ? flops::activation(act_, n, true) : 0.0);
}

std::string ActivationLayer::describe() const {
  return std::string(ops::activation_name(act_)) + " (" + std::to_string(width_) + ")";
}

void ActivationLayer::prepare(int64_t max_batch, Device dev) {
  y_ = Tensor::empty({max_batch, width_}, dtype_, dev);
}

Tensor ActivationLayer::forward(const Tensor& x, Mode, const StepContext&) {
  Tensor y = y_.rows(0, x.dim(0));
  x_batch_ = x;
  ops::activation_forward(act_, x, y);
  return y;
}

void ActivationLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  if (dx) ops::activation_backward(act_, dy, x_batch_, *dx);
}

// ---- LayerNormLayer ----

void make_scale_and_shift(const std::string& name, int64_t width, DType dtype, Device dev,
                          Parameter& gamma, Parameter& beta) {
  gamma.name = name + ".weight";
  beta.name = name + ".bias";
  gamma.value = Tensor::empty({width}, dtype, dev);
  ops::fill(gamma.value, 1.0);
  beta.value = Tensor::zeros({width}, dtype, dev);
  gamma.grad = Tensor::zeros({width}, dtype, dev);
  beta.grad = Tensor::zeros({width}, dtype, dev);
}

LayerNormLayer::LayerNormLayer(std::string name, int64_t width, float eps, Device dev, DType dtype)
    : width_(width), eps_(eps), dtype_(dtype) {
  make_scale_and_shift(name, width, dtype, dev, gamma_, beta_);
}

double LayerNormLayer::train_flops(int64_t batch, bool input_grad) const {
  const double n = static_cast<double>(batch * width_);
  return n * (8 + 3 + (input_grad ? 8 : 0));
}

std::string LayerNormLayer::describe() const {
  std::ostringstream o;
  o << "layernorm " << width_ << " (eps " << eps_ << ")";
  return o.str();
}

void LayerNormLayer::prepare(int64_t max_batch, Device dev) {
  y_ = Tensor::empty({max_batch, width_}, dtype_, dev);
  mean_ = Tensor::empty({max_batch}, dtype_, dev);
  rstd_ = Tensor::empty({max_batch}, dtype_, dev);
}

Tensor LayerNormLayer::forward(const Tensor& x, Mode, const StepContext&) {
  const int64_t B = x.dim(0);
  Tensor y = y_.rows(0, B), mean = mean_.rows(0, B), rstd = rstd_.rows(0, B);
  x_batch_ = x;
  ops::layernorm_forward(x, gamma_.value, beta_.value, eps_, y, mean, rstd);
  return y;
}

void LayerNormLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  const int64_t B = dy.dim(0);
  Tensor mean = mean_.rows(0, B), rstd = rstd_.rows(0, B);
  // The input gradient is always needed by the formula's structure; use dx when given, else
  // a scratch view of the output buffer (the output is no longer needed in backward).
  Tensor scratch = y_.rows(0, B);
  ops::layernorm_backward(dy, x_batch_, gamma_.value, mean, rstd, dx ? *dx : scratch, gamma_.grad,
                          beta_.grad);
}

// ---- DropoutLayer ----

double DropoutLayer::train_flops(int64_t batch, bool input_grad) const {
  if (p_ <= 0.0f) return 0.0;
  const double n = static_cast<double>(batch * width_);
  return n * (input_grad ? 2 : 1);
}

std::string DropoutLayer::describe() const {
  std::ostringstream o;
  o << "dropout p=" << p_ << " (" << width_ << ")";
  return o.str();
}

void DropoutLayer::prepare(int64_t max_batch, Device dev) {
  y_ = Tensor::empty({max_batch, width_}, dtype_, dev);
  mask_ = Tensor::empty({max_batch, width_}, DType::u8, dev);
}

Tensor DropoutLayer::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  last_was_identity_ = mode == Mode::eval || p_ == 0.0f;
  if (last_was_identity_) return x;
  const int64_t B = x.dim(0);
  Tensor y = y_.rows(0, B);
  mask_batch_ = mask_.rows(0, B);
  ops::dropout_forward(x, p_, ctx.seed, stream_, ctx.step, y, mask_batch_);
  return y;
}

void DropoutLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  if (!dx) return;
  if (last_was_identity_) {
    dx->copy_from(dy);
    return;
  }
  ops::dropout_backward(dy, mask_batch_, p_, *dx);
}

// ---- builders ----

std::unique_ptr<Layer> build_activation_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const ops::Activation act =
      cfg.type == LayerType::relu ? ops::Activation::relu : ops::Activation::gelu;
  return std::make_unique<ActivationLayer>(act, ctx.shape.width, ctx.dtype);
}

std::unique_ptr<Layer> build_layernorm_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  return std::make_unique<LayerNormLayer>(ctx.name, ctx.shape.width,
                                          static_cast<float>(cfg.as<LayerNormConfig>().eps),
                                          ctx.dev, ctx.dtype);
}

// The mask stream is the entry's position (its index in model.layers without blocks).
std::unique_ptr<Layer> build_dropout_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  return std::make_unique<DropoutLayer>(static_cast<float>(cfg.as<DropoutConfig>().p),
                                        ctx.shape.width, static_cast<uint32_t>(ctx.position),
                                        ctx.dtype);
}

}  // namespace kasmina
