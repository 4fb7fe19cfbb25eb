// A chain of layers run in order: the body of the model and of a residual block. The backward
// pass hands each layer what the layer below offers to fuse (Layer::output_grad_epilogue), so a
// linear layer's input-gradient GEMM applies the previous layer's activation backward and bias
// gradient (cuBLASLt DRELU_BGRAD / DGELU_BGRAD on CUDA); identity steps are skipped.
#pragma once
#include <memory>
#include <vector>

#include "nn/layer.hpp"

namespace kasmina::morph {
class KasminaLayer;
}

namespace kasmina {

// bf16 activations between linear layers (docs/PRECISION.md, "bf16 activations"): off by
// default, because on the H200 the training steps were slower with them (ReLU MLPs: the bf16
// output with the ReLU epilogue falls back to a plain GEMM and kasmina's epilogue kernel; see
// bench/RESULTS.md). On when the environment variable KASMINA_BF16_ACTIVATIONS=1 is set when
// first asked, or by set_bf16_activations (tests). Read by LayerSequence::prepare.
bool bf16_activations();
void set_bf16_activations(bool on);

// bf16 maps around convolutions (docs/PRECISION.md, "Convolutions": a bf16 convolution and a
// batchnorm next to it hand each other bf16 maps, no casts): on by default; KASMINA_BF16_MAPS=0
// in the environment (read when first asked) or set_bf16_conv_maps(false) (tests) keeps those
// maps float32. The values are the same either way (the casts round where the bf16 stores
// round).
bool bf16_conv_maps();
void set_bf16_conv_maps(bool on);

class LayerSequence {
 public:
  explicit LayerSequence(std::vector<std::unique_ptr<Layer>> layers);

  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  bool empty() const { return layers_.empty(); }

  // Rows per sample of the sequence's input and output (Layer::in_rows).
  int64_t in_rows() const;
  int64_t out_rows() const;

  // Allocates every layer's buffers for batches of up to `max_batch` samples and the
  // input-gradient buffers between them; with `input_grad`, also the gradient w.r.t. the
  // sequence's input (of width `in_width`). With `bf16_input_grad` (a caller that reads a bf16
  // input gradient, widening it on the load: a residual block's adds), that gradient is bf16
  // when the first layer is a convolution that runs in bf16 and the bf16 maps are on: the
  // convolution's own bf16 input gradient, not widened by a pass of its own.
  void prepare(int64_t max_batch, Device dev, DType dtype, int64_t in_width, bool input_grad,
               bool bf16_input_grad = false);
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx);
  // dy [B * out_rows(), out] of the last forward; writes every parameter gradient. Returns the
  // gradient w.r.t. the sequence's input when prepared with `input_grad` (it may be `dy` itself
  // when every layer passed its gradient through), else an undefined tensor.
  Tensor backward(const Tensor& dy, const StepContext& ctx);

  // Training FLOPs of the layers on `batch` samples (Layer::train_flops; the first layer's input
  // gradient only with `input_grad`), and what they count themselves (Layer::counted_train_flops).
  double train_flops(int64_t batch, bool input_grad) const;
  double counted_train_flops(int64_t last_boundary_step) const;

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Tensor> grad_in_;  // grad_in_[i]: gradient w.r.t. the input of layer i
  // kasmina_[i]: layer i as a kasmina layer (null for others), told whether its input and its
  // output gradient are the sequence's own buffers (KasminaLayer::set_input_owned).
  std::vector<morph::KasminaLayer*> kasmina_;
  bool input_grad_ = false;
};

}  // namespace kasmina
