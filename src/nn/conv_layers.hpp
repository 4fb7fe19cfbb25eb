// The layers of convolutional networks, on NHWC feature maps whose pixels are rows
// (core/sample_shape.hpp): a sample of an H x W x C map is H*W rows of C features, so a batch is
// the [B*H*W, C] matrix the conv ops view as [B, H, W, C] (src/ops/conv_ops.hpp).
//   conv2d          cuDNN on CUDA, im2col + OpenBLAS on the CPU
//   batchnorm2d     per-feature batch statistics over all rows; absorbs a following relu
//   maxpool2d, avgpool2d
//   global_avgpool  the mean of a sample's rows (pixels, or a transformer's tokens) -> one row
//   flatten         a sample's rows side by side in one row (NHWC order)
#pragma once
#include <memory>
#include <string>

#include "config/config.hpp"
#include "config/layers/batchnorm.hpp"
#include "nn/layer.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina {

struct LayerBuildContext;

class Conv2dLayer final : public Layer {
 public:
  // `in`: what the layer receives, an image as pixel rows or flattened to one row.
  Conv2dLayer(std::string name, const SampleShape& in, int64_t out_channels, int64_t kernel,
              ops::Conv2dParams p, bool bias, DType dtype);
  // PyTorch's default initialisation: weights and bias uniform in ±1/sqrt(fan_in), fan_in =
  // kernel² · in channels / groups (drawn in double, rounded to the dtype).
  void initialize(uint64_t seed, uint64_t position, Device dev);

  std::string type() const override { return "conv2d"; }
  std::string describe() const override;
  int64_t in_width() const override { return in_width_; }
  int64_t out_width() const override { return out_.c; }
  SampleShape out_shape(const SampleShape&) const override { return SampleShape::pixels(out_); }
  std::vector<Parameter*> parameters() override;
  double train_flops(int64_t rows, bool input_grad) const override;
  void prepare(int64_t max_rows, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;
  // True after prepare() when the layer convolves in bf16 (docs/PRECISION.md, "Convolutions").
  bool bf16() const { return bf16_; }
  // Whether prepare(..., dev) will make it convolve in bf16 (bf16_convolution below).
  bool bf16_eligible(Device dev) const;
  // Before prepare(): hand the output to the next layer in bf16 (it is then cuDNN's bf16 output
  // itself, not widened), and take the gradient w.r.t. it in bf16; only when bf16_eligible.
  void set_bf16_output(bool on) { bf16_out_ = on; }
  bool bf16_output() const override { return bf16_ && bf16_out_; }
  // Before prepare(): the input arrives in bf16 (from a layer that hands bf16, or a residual
  // block's shared cast), and the input gradient is taken in bf16: the layer then allocates no
  // bf16 copy of its own for the one or the other (set by the layer sequence and the block).
  void set_bf16_input(bool on) { bf16_in_ = on; }
  void set_bf16_input_grad(bool on) { bf16_dx_ = on; }

 private:
  std::string name_;
  ImageShape in_, out_;
  int64_t in_width_;  // of the rows it receives: in_.c, or h*w*c for a flattened image
  int64_t kernel_;
  ops::Conv2dParams p_;
  bool has_bias_;
  DType dtype_;
  Parameter weight_, bias_;
  Tensor y_, x_batch_;  // x_batch_: the forward's input map (its bf16 copy in bf16)
  int64_t batch_ = 0;
  // bf16: the weight's copy (cast by each forward, read by the backward's input gradient), the
  // input's copy (kept for the weight gradient), cuDNN's bf16 output, the output gradient's
  // copy and the input gradient in bf16 (widened into the float32 dx).
  bool bf16_ = false, bf16_out_ = false, bf16_in_ = false, bf16_dx_ = false;
  Tensor w16_, x16_, y16_, dy16_, dx16_;  // x16_, dy16_, dx16_ only where the data comes fp32
};

// Whether a float32 convolution with these channels per group convolves in bf16 on `dev`: the
// bf16 convolutions are switched on (the default; KASMINA_BF16_CONV=0 in the environment, read
// when first asked, or set_bf16_convolutions(false) switch them off), the device's math mode
// is bf16 (`train.precision: bf16`), and both channel counts per group are multiples of 8 (the
// channel vectors of cuDNN's bf16 tensor-core kernels; a one-channel image stem and depthwise
// convolutions stay as in tf32 mode).
bool bf16_convolution(DType dtype, Device dev, int64_t in_per_group, int64_t out_per_group);
void set_bf16_convolutions(bool on);
bool bf16_convolutions();

// The bf16 copy of `x` in the first elements of `buffer` (x itself when it is bf16 already).
Tensor bf16_copy(const Tensor& x, const Tensor& buffer);

class BatchNormLayer final : public Layer {
 public:
  BatchNormLayer(std::string name, int64_t width, const BatchNormConfig& cfg, Device dev,
                 DType dtype);

  std::string type() const override { return "batchnorm2d"; }
  std::string describe() const override;
  int64_t in_width() const override { return width_; }
  int64_t out_width() const override { return width_; }
  std::vector<Parameter*> parameters() override { return {&gamma_, &beta_}; }
  double train_flops(int64_t rows, bool input_grad) const override;
  bool absorb_next(const Layer& next) override;  // a relu: fused into the normalisation
  bool fused_relu() const { return p_.relu; }
  // The fused residual tail (nn/residual_block.cpp): from now on the training forward computes
  // the statistics only and returns its input; the block applies them (term()) together with
  // the skip and its ReLU, and hands the block's output as the backward's ReLU mask
  // (mask_backward_by; none: the gradient is not masked). Evaluation is unchanged.
  void defer_apply();
  bool deferred() const { return deferred_; }
  ops::BatchNormTerm term() const;
  // Before prepare(): take the input (and write its gradient) in bf16, after a bf16 convolution;
  // hand the output (and take its gradient) in bf16, before one (nn/layer_sequence.cpp). The
  // parameters and the statistics stay float32.
  void set_bf16_input(bool on);
  void set_bf16_output(bool on);
  bool bf16_output() const override { return bf16_out_; }
  void mask_backward_by(const Tensor& y) { mask_ = y; }
  void prepare(int64_t max_rows, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;
  // Parameters, then "<name>.running_mean" and "<name>.running_var".
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

 private:
  std::string name_;
  int64_t width_;
  ops::BatchNormParams p_;
  DType dtype_;
  Parameter gamma_, beta_;
  Tensor running_mean_, running_var_, save_mean_, save_rstd_;
  Tensor y_, x_batch_, y_batch_, scratch_;
  bool deferred_ = false;
  bool bf16_in_ = false, bf16_out_ = false;
  Tensor mask_;
};

class Pool2dLayer final : public Layer {
 public:
  Pool2dLayer(bool max, const SampleShape& in, ops::Pool2dParams p, DType dtype);

  std::string type() const override { return max_ ? "maxpool2d" : "avgpool2d"; }
  std::string describe() const override;
  int64_t in_width() const override { return in_width_; }
  int64_t out_width() const override { return out_.c; }
  SampleShape out_shape(const SampleShape&) const override { return SampleShape::pixels(out_); }
  double train_flops(int64_t rows, bool input_grad) const override;
  void prepare(int64_t max_rows, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

 private:
  bool max_;
  ImageShape in_, out_;
  int64_t in_width_;
  ops::Pool2dParams p_;
  DType dtype_;
  Tensor y_, argmax_;
  int64_t batch_ = 0;
};

class GlobalAvgPoolLayer final : public Layer {
 public:
  GlobalAvgPoolLayer(int64_t rows, int64_t width, DType dtype);

  std::string type() const override { return "global_avgpool"; }
  std::string describe() const override;
  int64_t in_width() const override { return width_; }
  int64_t out_width() const override { return width_; }
  SampleShape out_shape(const SampleShape&) const override { return SampleShape(width_); }
  double train_flops(int64_t rows, bool input_grad) const override;
  void prepare(int64_t max_rows, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

 private:
  int64_t rows_, width_;
  DType dtype_;
  Tensor y_;
};

class FlattenLayer final : public Layer {
 public:
  explicit FlattenLayer(const SampleShape& in) : in_(in) {}

  std::string type() const override { return "flatten"; }
  std::string describe() const override;
  int64_t in_width() const override { return in_.width; }
  int64_t out_width() const override { return in_.values(); }
  SampleShape out_shape(const SampleShape&) const override;
  double train_flops(int64_t, bool) const override { return 0.0; }
  void prepare(int64_t, Device) override {}
  // A view of its input; the backward copies the gradient into the input's shape.
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

 private:
  SampleShape in_;
};

// The registry's builders (src/nn/layer_registry.cpp).
std::unique_ptr<Layer> build_conv2d_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_batchnorm_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_pool2d_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_global_avgpool_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_flatten_layer(const LayerConfig& cfg, LayerBuildContext& ctx);

}  // namespace kasmina
