#include "nn/layer_sequence.hpp"

#include <string>

#include "core/env_switch.hpp"
#include "core/error.hpp"
#include "nn/conv_layers.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/linear.hpp"
#include "nn/residual_block.hpp"
#include "ops/gemm_route.hpp"

namespace kasmina {

namespace {

ProcessSwitch bf16_activations_switch("KASMINA_BF16_ACTIVATIONS", false);
ProcessSwitch bf16_conv_maps_switch("KASMINA_BF16_MAPS", true);

// The bf16 gradient hand-off (docs/PRECISION.md): the gradient from linear layer `above` to
// the ReLU linear layer `below` directly under it is stored in bf16 when both read bf16 and the
// input-gradient GEMM of `above` takes kasmina's pass for this shape (ops/gemm_route.hpp): the
// pass stores dx in bf16 with the bias gradient of `below`, and `below` reads it without a cast.
// The route rule is the same on every device, so the CPU twin hands off the same bf16 values.
bool bf16_gradient_handoff(const LinearLayer& below, const Layer& above, int64_t rows,
                           int64_t width) {
  const auto* lin = dynamic_cast<const LinearLayer*>(&above);
  if (!lin || !lin->bf16_gemms() || !below.accepts_bf16_output_grad()) return false;
  const ops::GemmShape s{ops::LinearGemm::backward_input, rows, width, lin->out_width(),
                         below.activation()};
  return below.activation() == ops::Activation::relu &&
         ops::choose_dact_path(s) == ops::DactPath::pass;
}

// bf16 maps around convolutions (docs/PRECISION.md, "Convolutions"): a convolution that runs in
// bf16 hands the batchnorm directly after it its bf16 output (and takes the gradient in bf16),
// and a batchnorm applied in its own forward (not in a residual block's fused tail) hands the
// bf16 convolution directly after it a bf16 output: no casts between them. The other layers keep
// float32 maps.
void link_bf16_maps(const std::vector<std::unique_ptr<Layer>>& layers, Device dev) {
  if (!bf16_conv_maps_switch.on()) return;
  for (size_t i = 0; i + 1 < layers.size(); ++i) {
    if (auto* conv = dynamic_cast<Conv2dLayer*>(layers[i].get())) {
      auto* bn = dynamic_cast<BatchNormLayer*>(layers[i + 1].get());
      if (bn && conv->bf16_eligible(dev)) {
        conv->set_bf16_output(true);
        bn->set_bf16_input(true);
      }
    } else if (auto* bn = dynamic_cast<BatchNormLayer*>(layers[i].get())) {
      const auto* next = dynamic_cast<const Conv2dLayer*>(layers[i + 1].get());
      if (next && !bn->deferred() && next->bf16_eligible(dev)) bn->set_bf16_output(true);
    }
  }
}

// bf16 copies between residual blocks (docs/PRECISION.md): a block directly after another that
// reads its input only through bf16 convolutions takes the bf16 copy the block before stores
// beside its float32 output (the fused tail's second store) instead of casting it itself. The
// copy is the cast's result, so the values are the same.
void link_bf16_block_inputs(const std::vector<std::unique_ptr<Layer>>& layers, Device dev) {
  for (const auto& l : layers) {
    if (auto* b = dynamic_cast<ResidualBlock*>(l.get())) {
      b->set_bf16_input_source(nullptr);
      b->set_bf16_output_copy(false);
    }
  }
  if (!bf16_conv_maps_switch.on()) return;
  for (size_t i = 1; i < layers.size(); ++i) {
    auto* before = dynamic_cast<ResidualBlock*>(layers[i - 1].get());
    auto* block = dynamic_cast<ResidualBlock*>(layers[i].get());
    if (!before || !block || !block->convolutions_take_bf16_input(dev)) continue;
    before->set_bf16_output_copy(true);
    block->set_bf16_input_source(before);
  }
}

// The layer a linear layer at i may hand a bf16 output with the bf16 activations on: a linear
// layer directly after it, or a kasmina layer that can run its fused ops on bf16 with a linear
// layer after it (the kasmina layer then hands that one bf16 too). Below a kasmina layer the
// gradient arrives unfused, so the linear layer's activation must be ReLU or none (kasmina's
// bf16 pass; nn/linear.cpp).
bool bf16_consumer_after(const std::vector<std::unique_ptr<Layer>>& layers, size_t i) {
  const auto is_linear = [&](size_t j) {
    return j < layers.size() && dynamic_cast<const LinearLayer*>(layers[j].get()) != nullptr;
  };
  if (is_linear(i + 1)) return true;
  const auto* k = i + 1 < layers.size()
                      ? dynamic_cast<const morph::KasminaLayer*>(layers[i + 1].get())
                      : nullptr;
  const auto* lin = dynamic_cast<const LinearLayer*>(layers[i].get());
  return k && k->bf16_capable() && is_linear(i + 2) && lin->activation() != ops::Activation::gelu;
}

}  // namespace

bool bf16_activations() {
  return bf16_activations_switch.on();
}

void set_bf16_activations(bool on) {
  bf16_activations_switch.set(on);
}

bool bf16_conv_maps() {
  return bf16_conv_maps_switch.on();
}

void set_bf16_conv_maps(bool on) {
  bf16_conv_maps_switch.set(on);
}

LayerSequence::LayerSequence(std::vector<std::unique_ptr<Layer>> layers)
    : layers_(std::move(layers)) {}

int64_t LayerSequence::in_rows() const {
  return layers_.front()->in_rows();
}

int64_t LayerSequence::out_rows() const {
  return layers_.back()->out_rows();
}

void LayerSequence::prepare(int64_t max_batch, Device dev, DType dtype, int64_t in_width,
                            bool input_grad, bool bf16_input_grad) {
  input_grad_ = input_grad;
  grad_in_.assign(layers_.size(), Tensor());
  kasmina_.assign(layers_.size(), nullptr);
  link_bf16_maps(layers_, dev);
  link_bf16_block_inputs(layers_, dev);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t rows = max_batch * layers_[i]->in_rows();
    // bf16 activations (docs/PRECISION.md): a linear layer directly followed by a linear layer
    // hands it its output in bf16 when both GEMMs read bf16; the gradient w.r.t. that output
    // (the next layer's dx) is then bf16 too.
    if (auto* lin = dynamic_cast<LinearLayer*>(layers_[i].get()))
      lin->set_bf16_output(bf16_activations() && bf16_consumer_after(layers_, i));
    // A convolution after a layer that hands it bf16 takes its input and writes its input
    // gradient in bf16 (the gradient buffer below is bf16 then): no copies of its own.
    bool grad16 = false;  // this layer's input gradient is bf16 (set for convolutions)
    if (auto* conv = dynamic_cast<Conv2dLayer*>(layers_[i].get()); conv && i > 0) {
      const bool in16 = layers_[i - 1]->bf16_output();
      if (in16) conv->set_bf16_input(true);
      conv->set_bf16_input_grad(in16);
      grad16 = in16;
    } else if (conv) {  // first: its input gradient is the sequence's
      grad16 = input_grad && bf16_input_grad && bf16_conv_maps() && conv->bf16_eligible(dev);
      conv->set_bf16_input_grad(grad16);
    }
    // A kasmina layer between two linear layers takes the bf16 output of the one before (set
    // above when it could) and hands bf16 to the one after.
    if (auto* k = dynamic_cast<morph::KasminaLayer*>(layers_[i].get())) {
      k->set_bf16_io(i > 0 && layers_[i - 1]->bf16_output());
      kasmina_[i] = k;
    }
    layers_[i]->prepare(rows, dev);
    const int64_t width = i > 0 ? layers_[i]->in_width() : in_width;
    const auto* below = i > 0 ? dynamic_cast<const LinearLayer*>(layers_[i - 1].get()) : nullptr;
    const bool bf16_grad = grad16 || (i > 0 && layers_[i - 1]->bf16_output()) ||
                           (below && bf16_gradient_handoff(*below, *layers_[i], rows, width));
    const DType grad_dtype = bf16_grad ? DType::bf16 : dtype;
    if (i > 0 || input_grad) grad_in_[i] = Tensor::empty({rows, width}, grad_dtype, dev);
  }
}

Tensor LayerSequence::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    // A kasmina layer may write over its input when a layer of this sequence made it (not the
    // sequence's input, which the caller may read again: a residual block's shortcut, a batch).
    if (i < kasmina_.size() && kasmina_[i])
      kasmina_[i]->set_input_owned(i > 0 && h.raw() != x.raw());
    h = layers_[i]->forward(h, mode, ctx);
  }
  return h;
}

double LayerSequence::train_flops(int64_t batch, bool input_grad) const {
  double f = 0.0;
  for (size_t i = 0; i < layers_.size(); ++i)
    f += layers_[i]->train_flops(batch * layers_[i]->in_rows(), i > 0 || input_grad);
  return f;
}

double LayerSequence::counted_train_flops(int64_t last_boundary_step) const {
  double f = 0.0;
  for (const auto& l : layers_) f += l->counted_train_flops(last_boundary_step);
  return f;
}

Tensor LayerSequence::backward(const Tensor& dy, const StepContext& ctx) {
  const int64_t B = dy.dim(0) / out_rows();  // samples
  Tensor g = dy;                     // gradient w.r.t. the output of layer i, in form `form`
  GradForm form = GradForm::output;  // (pre_activation: the layer above fused its epilogue)
  for (size_t i = layers_.size(); i-- > 0;) {
    if (layers_[i]->passes_gradient_through()) continue;  // an identity step: g is unchanged
    const bool want_dx = i > 0 || input_grad_;
    Tensor dx = want_dx ? grad_in_[i].rows(0, B * layers_[i]->in_rows()) : Tensor();
    // What the layer whose output this one read offers to fuse, skipping identity steps.
    GradEpilogue below;
    if (i > 0) {
      size_t j = i - 1;
      while (j > 0 && layers_[j]->passes_gradient_through()) --j;
      if (!layers_[j]->passes_gradient_through()) below = layers_[j]->output_grad_epilogue();
    }
    // dy of a kasmina layer is this sequence's buffer unless it is the sequence's own dy.
    if (kasmina_[i]) kasmina_[i]->set_output_grad_owned(g.raw() != dy.raw());
    form = layers_[i]->backward_fused(g, form, want_dx ? &dx : nullptr, below, ctx);
    if (!want_dx) return Tensor();
    g = dx;
  }
  KASMINA_CHECK(form == GradForm::output, "a sequence's input gradient is never pre-activation");
  return input_grad_ ? g : Tensor();
}

}  // namespace kasmina
