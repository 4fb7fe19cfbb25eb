#include "nn/conv_layers.hpp"

#include <cmath>
#include <sstream>

#include "config/layers/batchnorm.hpp"
#include "config/layers/conv2d.hpp"
#include "core/env_switch.hpp"
#include "core/rng.hpp"
#include "nn/flops.hpp"
#include "nn/layer_registry.hpp"
#include "nn/linear.hpp"
#include "nn/simple_layers.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina {

namespace {

// Samples in a batch whose rows hold `per_sample` values each.
int64_t samples_of(const Tensor& t, int64_t per_sample) {
  return t.numel() / per_sample;
}

int64_t pixels(const ImageShape& s) {
  return s.h * s.w;
}

Tensor as_map(const Tensor& t, int64_t batch, const ImageShape& s) {
  return t.view({batch, s.h, s.w, s.c});
}

ProcessSwitch bf16_convolutions_switch("KASMINA_BF16_CONV", true);

}  // namespace

Tensor bf16_copy(const Tensor& x, const Tensor& buffer) {
  if (x.dtype() == DType::bf16) return x;
  KASMINA_CHECK(buffer.defined(), "bf16_copy: a float32 input where bf16 was announced");
  Tensor out = buffer.flat_range(0, x.shape());
  ops::cast_to_bf16(x, out);
  return out;
}

void set_bf16_convolutions(bool on) {
  bf16_convolutions_switch.set(on);
}

bool bf16_convolutions() {
  return bf16_convolutions_switch.on();
}

bool bf16_convolution(DType dtype, Device dev, int64_t in_per_group, int64_t out_per_group) {
  return bf16_convolutions_switch.on() && dtype == DType::f32 &&
         ops::math_mode(dev) == ops::MathMode::bf16 && in_per_group % 8 == 0 &&
         out_per_group % 8 == 0;
}

// ---- Conv2dLayer ----

Conv2dLayer::Conv2dLayer(std::string name, const SampleShape& in, int64_t out_channels,
                         int64_t kernel, ops::Conv2dParams p, bool bias, DType dtype)
    : name_(std::move(name)),
      in_(in.image.value()),
      in_width_(in.width),
      kernel_(kernel),
      p_(p),
      has_bias_(bias),
      dtype_(dtype) {
  out_ = ImageShape{ops::conv_out_size(in_.h, kernel, p.stride, p.padding),
                    ops::conv_out_size(in_.w, kernel, p.stride, p.padding), out_channels};
  weight_.name = name_ + ".weight";
  bias_.name = name_ + ".bias";
}

void Conv2dLayer::initialize(uint64_t seed, uint64_t position, Device dev) {
  const int64_t fan_in = kernel_ * kernel_ * (in_.c / p_.groups);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  Rng rng(derive_seed(seed, "init.conv2d", position));
  std::vector<double> w(static_cast<size_t>(out_.c * fan_in)), b(static_cast<size_t>(out_.c));
  for (double& v : w) v = static_cast<float>(rng.uniform(-bound, bound));
  for (double& v : b) v = static_cast<float>(rng.uniform(-bound, bound));
  const Shape wshape{out_.c, kernel_, kernel_, in_.c / p_.groups};
  weight_.value = tensor_from_doubles(w, wshape, dtype_, dev);
  weight_.grad = Tensor::zeros(wshape, dtype_, dev);
  if (has_bias_) {
    bias_.value = tensor_from_doubles(b, {out_.c}, dtype_, dev);
    bias_.grad = Tensor::zeros({out_.c}, dtype_, dev);
  }
}

std::string Conv2dLayer::describe() const {
  std::ostringstream o;
  o << "conv2d " << in_.h << "x" << in_.w << "x" << in_.c << " -> " << out_.h << "x" << out_.w
    << "x" << out_.c << " (" << kernel_ << "x" << kernel_ << ", stride " << p_.stride
    << ", padding " << p_.padding;
  if (p_.groups > 1) o << ", groups " << p_.groups;
  if (!has_bias_) o << ", no bias";
  if (bf16_) o << ", bf16";
  if (bf16_ && bf16_in_) o << ", bf16 input";
  if (bf16_output()) o << ", bf16 output";
  if (bf16_ && bf16_dx_) o << ", bf16 dx";
  o << ")";
  return o.str();
}

bool Conv2dLayer::bf16_eligible(Device dev) const {
  return bf16_convolution(dtype_, dev, in_.c / p_.groups, out_.c / p_.groups);
}

std::vector<Parameter*> Conv2dLayer::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

double Conv2dLayer::train_flops(int64_t rows, bool input_grad) const {
  const int64_t batch = rows / in_rows();
  const int64_t out_values = batch * pixels(out_) * out_.c;
  const double pass = 2.0 * static_cast<double>(out_values) *
                      static_cast<double>(kernel_ * kernel_ * in_.c) /
                      static_cast<double>(p_.groups);
  const double bias = has_bias_ ? static_cast<double>(out_values) : 0.0;
  return pass + bias + pass + bias + (input_grad ? pass : 0.0);  // forward, dW and db, dx
}

void Conv2dLayer::prepare(int64_t max_rows, Device dev) {
  KASMINA_CHECK(weight_.value.defined() && weight_.value.device() == dev,
                name_ + ": prepare() before initialize() on " + dev.str());
  const int64_t max_batch = max_rows / in_rows();
  const Shape y_shape{max_batch * pixels(out_), out_.c};
  bf16_ = bf16_eligible(dev);
  y_ = x16_ = y16_ = dy16_ = dx16_ = weight_.bf16_copy = Tensor();
  if (!bf16_output()) y_ = Tensor::empty(y_shape, dtype_, dev);  // (else cuDNN's bf16 output)
  if (!bf16_) {
    w16_ = Tensor();
    return;
  }
  // The weight copy is kept across a second prepare (an optimizer may hold it: nn/layer.hpp).
  if (!w16_.defined() || w16_.device() != dev)
    w16_ = Tensor::empty(weight_.value.shape(), DType::bf16, dev);
  // The weight copy kept current by the optimizer (Parameter::bf16_copy), made here once.
  if (optimizer_bf16_copies()) {
    weight_.bf16_copy = w16_;
    ops::cast_to_bf16(weight_.value, w16_);
  }
  // The copies of what arrives in float32 (an input, an output gradient) and the bf16 input
  // gradient to widen into a float32 dx; none where those come or go in bf16.
  if (!bf16_in_) x16_ = Tensor::empty({max_rows, in_width_}, DType::bf16, dev);
  if (!bf16_dx_) dx16_ = Tensor::empty({max_rows, in_width_}, DType::bf16, dev);
  y16_ = Tensor::empty(y_shape, DType::bf16, dev);
  if (!bf16_output()) dy16_ = Tensor::empty(y_shape, DType::bf16, dev);
}

Tensor Conv2dLayer::forward(const Tensor& x, Mode, const StepContext&) {
  batch_ = samples_of(x, pixels(in_) * in_.c);
  const int64_t out_rows = batch_ * pixels(out_);
  const Tensor bias = has_bias_ ? bias_.value : Tensor();
  if (!bf16_) {
    x_batch_ = as_map(x, batch_, in_);
    Tensor y = y_.rows(0, out_rows);
    Tensor ymap = as_map(y, batch_, out_);
    ops::conv2d_forward(x_batch_, weight_.value, bias, p_, ymap);
    return y;
  }
  // bf16: the weight and the input cast (an input in bf16 is used as it is), cuDNN's bf16
  // output handed on as it is (bf16_output) or widened for the next layer.
  if (!weight_.bf16_copy.defined()) ops::cast_to_bf16(weight_.value, w16_);
  x_batch_ = as_map(bf16_copy(x, x16_), batch_, in_);
  Tensor y16 = y16_.rows(0, out_rows);
  Tensor y16map = as_map(y16, batch_, out_);
  ops::conv2d_forward(x_batch_, w16_, bias, p_, y16map);
  if (bf16_output()) return y16;
  Tensor y = y_.rows(0, out_rows);
  ops::cast_from_bf16(y16, y);
  return y;
}

void Conv2dLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  Tensor* db = has_bias_ ? &bias_.grad : nullptr;
  if (!bf16_) {
    const Tensor dymap = as_map(dy, batch_, out_);
    ops::conv2d_backward_weight(dymap, x_batch_, p_, weight_.grad, db);
    if (!dx) return;
    Tensor dxmap = as_map(*dx, batch_, in_);
    ops::conv2d_backward_input(dymap, weight_.value, p_, dxmap);
    return;
  }
  // bf16: dy cast once for both (a bf16 dy is used as it is); the float32 weight gradient is the
  // rounded one widened (in the op, on the lane that computes it); dx written in bf16 when the
  // layer below takes it so, else widened.
  const Tensor dymap = as_map(bf16_copy(dy, dy16_), batch_, out_);
  ops::conv2d_backward_weight(dymap, x_batch_, p_, weight_.grad, db);
  if (!dx) return;
  const bool widen = dx->dtype() != DType::bf16;
  KASMINA_CHECK(!widen || dx16_.defined(), name_ + ": a float32 dx where bf16 was announced");
  Tensor dx16 = widen ? dx16_.flat_range(0, dx->shape()) : *dx;
  Tensor dx16map = as_map(dx16, batch_, in_);
  ops::conv2d_backward_input(dymap, w16_, p_, dx16map);
  if (widen) ops::cast_from_bf16(dx16, *dx);
}

// ---- BatchNormLayer ----

BatchNormLayer::BatchNormLayer(std::string name, int64_t width, const BatchNormConfig& cfg,
                               Device dev, DType dtype)
    : name_(std::move(name)), width_(width), dtype_(dtype) {
  p_.eps = static_cast<float>(cfg.eps);
  p_.momentum = static_cast<float>(cfg.momentum);
  make_scale_and_shift(name_, width, dtype, dev, gamma_, beta_);
  running_mean_ = Tensor::zeros({width}, dtype, dev);
  running_var_ = Tensor::empty({width}, dtype, dev);
  ops::fill(running_var_, 1.0);
  save_mean_ = Tensor::zeros({width}, dtype, dev);
  save_rstd_ = Tensor::zeros({width}, dtype, dev);
}

std::string BatchNormLayer::describe() const {
  std::ostringstream o;
  o << "batchnorm2d " << width_ << " (momentum " << p_.momentum << ", eps " << p_.eps << ")";
  if (p_.relu) o << " + relu (fused)";
  if (deferred_) o << " (applied in the block's fused tail)";
  if (bf16_in_ || bf16_out_) {
    o << (bf16_in_ && bf16_out_ ? " (bf16 maps)" : bf16_in_ ? " (bf16 input)" : " (bf16 output)");
  }
  return o.str();
}

void BatchNormLayer::set_bf16_input(bool on) {
  KASMINA_CHECK(!y_.defined(), name_ + ": set_bf16_input() after prepare()");
  KASMINA_CHECK(!on || dtype_ == DType::f32, name_ + ": bf16 maps need a float32 normalisation");
  bf16_in_ = on;
}

void BatchNormLayer::set_bf16_output(bool on) {
  KASMINA_CHECK(!y_.defined(), name_ + ": set_bf16_output() after prepare()");
  KASMINA_CHECK(!on || (!deferred_ && dtype_ == DType::f32),
                name_ + ": a bf16 output needs a float32 normalisation applied in its own forward");
  bf16_out_ = on;
}

void BatchNormLayer::defer_apply() {
  KASMINA_CHECK(!p_.relu, name_ + ": a normalisation with a fused relu cannot defer its apply");
  deferred_ = true;
}

ops::BatchNormTerm BatchNormLayer::term() const {
  return {&x_batch_, &gamma_.value, &beta_.value, &save_mean_, &save_rstd_};
}

double BatchNormLayer::train_flops(int64_t rows, bool input_grad) const {
  const double n = static_cast<double>(rows * width_);
  const double relu = p_.relu ? 2.0 * n : 0.0;
  return n * 7 + relu + n * (input_grad ? 8 : 4);  // statistics + apply; dgamma/dbeta (+ dx)
}

bool BatchNormLayer::absorb_next(const Layer& next) {
  if (p_.relu || next.pointwise_activation() != ops::Activation::relu) return false;
  KASMINA_CHECK(!y_.defined(), name_ + ": absorb_next() after prepare()");
  p_.relu = true;
  return true;
}

void BatchNormLayer::prepare(int64_t max_rows, Device dev) {
  y_ = Tensor::empty({max_rows, width_}, bf16_out_ ? DType::bf16 : dtype_, dev);
  scratch_ = Tensor::empty({max_rows, width_}, bf16_in_ ? DType::bf16 : dtype_, dev);
}

Tensor BatchNormLayer::forward(const Tensor& x, Mode mode, const StepContext&) {
  const int64_t R = x.dim(0);
  Tensor y = y_.rows(0, R);
  if (mode == Mode::eval) {
    ops::batchnorm_forward_eval(x, gamma_.value, beta_.value, p_, running_mean_, running_var_, y);
    return y;
  }
  x_batch_ = x;
  if (deferred_) {
    ops::BatchNormParams stats_only = p_;
    stats_only.apply = false;
    Tensor none;
    ops::batchnorm_forward_train(x, gamma_.value, beta_.value, stats_only, running_mean_,
                                 running_var_, none, save_mean_, save_rstd_);
    mask_ = Tensor();  // the block sets it again when its relu is fused
    return x;
  }
  y_batch_ = y;
  ops::batchnorm_forward_train(x, gamma_.value, beta_.value, p_, running_mean_, running_var_, y,
                               save_mean_, save_rstd_);
  return y;
}

void BatchNormLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  Tensor scratch = scratch_.rows(0, dy.dim(0));
  ops::BatchNormParams p = p_;
  if (deferred_) p.relu = mask_.defined();
  ops::batchnorm_backward(dy, x_batch_, deferred_ ? mask_ : y_batch_, gamma_.value, save_mean_,
                          save_rstd_, p, dx ? *dx : scratch, gamma_.grad, beta_.grad);
}

void BatchNormLayer::save_state(StateWriter& out) const {
  Layer::save_state(out);
  out.tensor(name_ + ".running_mean", running_mean_);
  out.tensor(name_ + ".running_var", running_var_);
}

void BatchNormLayer::load_state(const StateReader& in) {
  Layer::load_state(in);
  in.load(name_ + ".running_mean", running_mean_);
  in.load(name_ + ".running_var", running_var_);
}

// ---- Pool2dLayer ----

Pool2dLayer::Pool2dLayer(bool max, const SampleShape& in, ops::Pool2dParams p, DType dtype)
    : max_(max), in_(in.image.value()), in_width_(in.width), p_(p), dtype_(dtype) {
  out_ = ImageShape{ops::conv_out_size(in_.h, p.kernel, p.stride, p.padding),
                    ops::conv_out_size(in_.w, p.kernel, p.stride, p.padding), in_.c};
}

std::string Pool2dLayer::describe() const {
  std::ostringstream o;
  o << type() << " " << in_.h << "x" << in_.w << "x" << in_.c << " -> " << out_.h << "x" << out_.w
    << "x" << out_.c << " (" << p_.kernel << "x" << p_.kernel << ", stride " << p_.stride
    << ", padding " << p_.padding << ")";
  return o.str();
}

double Pool2dLayer::train_flops(int64_t rows, bool input_grad) const {
  const int64_t batch = rows / in_rows();
  const double window = static_cast<double>(batch * pixels(out_) * out_.c * p_.kernel * p_.kernel);
  return window + (input_grad ? window : 0.0);
}

void Pool2dLayer::prepare(int64_t max_rows, Device dev) {
  const int64_t max_batch = max_rows / in_rows();
  y_ = Tensor::empty({max_batch * pixels(out_), out_.c}, dtype_, dev);
  if (max_) argmax_ = Tensor::empty({max_batch * pixels(out_), out_.c}, DType::i32, dev);
}

Tensor Pool2dLayer::forward(const Tensor& x, Mode, const StepContext&) {
  batch_ = samples_of(x, pixels(in_) * in_.c);
  const Tensor xmap = as_map(x, batch_, in_);
  Tensor y = y_.rows(0, batch_ * pixels(out_));
  Tensor ymap = as_map(y, batch_, out_);
  if (max_) {
    Tensor idx = as_map(argmax_.rows(0, batch_ * pixels(out_)), batch_, out_);
    ops::maxpool2d_forward(xmap, p_, ymap, idx);
  } else {
    ops::avgpool2d_forward(xmap, p_, ymap);
  }
  return y;
}

void Pool2dLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  if (!dx) return;
  const Tensor dymap = as_map(dy, batch_, out_);
  Tensor dxmap = as_map(*dx, batch_, in_);
  if (max_) {
    const Tensor idx = as_map(argmax_.rows(0, batch_ * pixels(out_)), batch_, out_);
    ops::maxpool2d_backward(dymap, idx, p_, dxmap);
  } else {
    ops::avgpool2d_backward(dymap, p_, dxmap);
  }
}

// ---- GlobalAvgPoolLayer ----

GlobalAvgPoolLayer::GlobalAvgPoolLayer(int64_t rows, int64_t width, DType dtype)
    : rows_(rows), width_(width), dtype_(dtype) {}

std::string GlobalAvgPoolLayer::describe() const {
  return "global_avgpool " + std::to_string(rows_) + " rows of " + std::to_string(width_) + " -> " +
         std::to_string(width_);
}

double GlobalAvgPoolLayer::train_flops(int64_t rows, bool input_grad) const {
  const double n = static_cast<double>(rows * width_);
  return n + (input_grad ? n : 0.0);
}

void GlobalAvgPoolLayer::prepare(int64_t max_rows, Device dev) {
  y_ = Tensor::empty({max_rows / rows_, width_}, dtype_, dev);
}

Tensor GlobalAvgPoolLayer::forward(const Tensor& x, Mode, const StepContext&) {
  const int64_t batch = x.dim(0) / rows_;
  Tensor y = y_.rows(0, batch);
  ops::global_avgpool_forward(x.view({batch, rows_, width_}), y);
  return y;
}

void GlobalAvgPoolLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  if (!dx) return;
  Tensor dxv = dx->view({dy.dim(0), rows_, width_});
  ops::global_avgpool_backward(dy, dxv);
}

// ---- FlattenLayer ----

std::string FlattenLayer::describe() const {
  return "flatten " + in_.str() + " -> " + std::to_string(in_.values());
}

SampleShape FlattenLayer::out_shape(const SampleShape&) const {
  return in_.flattened();
}

Tensor FlattenLayer::forward(const Tensor& x, Mode, const StepContext&) {
  return x.view({x.dim(0) / in_.rows, in_.values()});
}

void FlattenLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  if (dx) dx->copy_from(dy.view(dx->shape()));
}

// ---- builders ----

std::unique_ptr<Layer> build_conv2d_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const Conv2dConfig& c = cfg.as<Conv2dConfig>();
  KASMINA_CHECK(ctx.shape.image.has_value(), ctx.name + ": conv2d needs an image input");
  auto layer = std::make_unique<Conv2dLayer>(
      ctx.name, ctx.shape, c.out, c.kernel,
      ops::Conv2dParams{.stride = c.stride, .padding = c.padding, .groups = c.groups}, c.bias,
      ctx.dtype);
  layer->initialize(ctx.seed, ctx.position, ctx.dev);
  return layer;
}

std::unique_ptr<Layer> build_batchnorm_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  return std::make_unique<BatchNormLayer>(ctx.name, ctx.shape.width, cfg.as<BatchNormConfig>(),
                                          ctx.dev, ctx.dtype);
}

std::unique_ptr<Layer> build_pool2d_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const Pool2dConfig& c = cfg.as<Pool2dConfig>();
  KASMINA_CHECK(ctx.shape.image.has_value(), ctx.name + ": pooling needs an image input");
  return std::make_unique<Pool2dLayer>(
      cfg.type == LayerType::maxpool2d, ctx.shape,
      ops::Pool2dParams{.kernel = c.kernel, .stride = c.effective_stride(), .padding = c.padding},
      ctx.dtype);
}

std::unique_ptr<Layer> build_global_avgpool_layer(const LayerConfig&, LayerBuildContext& ctx) {
  return std::make_unique<GlobalAvgPoolLayer>(ctx.shape.rows, ctx.shape.width, ctx.dtype);
}

std::unique_ptr<Layer> build_flatten_layer(const LayerConfig&, LayerBuildContext& ctx) {
  return std::make_unique<FlattenLayer>(ctx.shape);
}

}  // namespace kasmina
