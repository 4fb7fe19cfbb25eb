#include "nn/residual_block.hpp"

#include <string>

#include "config/layers/residual.hpp"
#include "core/env_switch.hpp"
#include "core/error.hpp"
#include "nn/flops.hpp"
#include "nn/layer_registry.hpp"
#include "ops/precision_ops.hpp"
#include "ops/residual/residual_add.hpp"

namespace kasmina {

ResidualBlock::ResidualBlock(std::string name, const SampleShape& in,
                             std::vector<std::unique_ptr<Layer>> body,
                             std::vector<std::unique_ptr<Layer>> shortcut, DType dtype)
    : name_(std::move(name)),
      in_(in),
      dtype_(dtype),
      body_(std::move(body)),
      shortcut_(std::move(shortcut)) {
  KASMINA_CHECK(!body_.empty(), name_ + ": a residual block needs at least one layer");
  KASMINA_CHECK(body_.layers().front()->in_width() == in_.width && body_.in_rows() == in_.rows,
                name_ + ": the block's body must read the block's input");
  out_ = SampleShape(body_.out_rows(), body_.layers().back()->out_width());
  const SampleShape skip =
      shortcut_.empty() ? SampleShape(in_.rows, in_.width)
                        : SampleShape(shortcut_.out_rows(), shortcut_.layers().back()->out_width());
  KASMINA_CHECK(skip.rows == out_.rows && skip.width == out_.width,
                name_ + ": the block's body and shortcut must produce the same shape");
  if (!env_switch("KASMINA_FUSED_TAIL", true)) return;
  auto* bn = dynamic_cast<BatchNormLayer*>(body_.layers().back().get());
  auto* sbn =
      shortcut_.empty() ? nullptr : dynamic_cast<BatchNormLayer*>(shortcut_.layers().back().get());
  if (!bn || bn->fused_relu() || (!shortcut_.empty() && (!sbn || sbn->fused_relu()))) return;
  tail_ = bn;
  skip_tail_ = sbn;
  tail_->defer_apply();
  if (skip_tail_) skip_tail_->defer_apply();
}

bool ResidualBlock::absorb_next(const Layer& next) {
  if (!tail_ || relu_ || next.pointwise_activation() != ops::Activation::relu) return false;
  KASMINA_CHECK(!y_.defined(), name_ + ": absorb_next() after prepare()");
  relu_ = true;
  return true;
}

void ResidualBlock::set_out_image(std::optional<ImageShape> image) {
  out_.image = image;
}

std::vector<Layer*> ResidualBlock::all_layers() const {
  std::vector<Layer*> out;
  for (const auto& l : body_.layers()) out.push_back(l.get());
  for (const auto& l : shortcut_.layers()) out.push_back(l.get());
  return out;
}

std::string ResidualBlock::describe() const {
  std::string s = "residual " + std::to_string(in_.width) + " [";
  for (size_t i = 0; i < body_.layers().size(); ++i)
    s += (i ? ", " : "") + body_.layers()[i]->describe();
  s += "]";
  if (!shortcut_.empty()) {
    s += " + shortcut [";
    for (size_t i = 0; i < shortcut_.layers().size(); ++i)
      s += (i ? ", " : "") + shortcut_.layers()[i]->describe();
    s += "]";
  }
  if (tail_) s += relu_ ? " + relu (tail fused)" : " (tail fused)";
  if (copy_out_) s += " (bf16 output copy)";
  if (from_source_) s += " (bf16 input from the block before)";
  return s;
}

std::vector<Parameter*> ResidualBlock::parameters() {
  std::vector<Parameter*> ps;
  for (Layer* l : all_layers())
    for (Parameter* p : l->parameters()) ps.push_back(p);
  return ps;
}

double ResidualBlock::train_flops(int64_t rows, bool input_grad) const {
  const int64_t batch = rows / in_.rows;
  const double adds = static_cast<double>(batch * out_.values()) * (input_grad ? 2 : 1);
  const double skip = shortcut_.empty() ? 0.0 : shortcut_.train_flops(batch, /*input_grad=*/true);
  const double n = static_cast<double>(batch * out_.values());
  const double relu =
      relu_ ? flops::activation(ops::Activation::relu, n, false) +
                  (input_grad ? flops::activation(ops::Activation::relu, n, true) : 0.0)
            : 0.0;
  return body_.train_flops(batch, /*input_grad=*/true) + skip + adds + relu;
}

Conv2dLayer* ResidualBlock::first_convolution() const {
  return dynamic_cast<Conv2dLayer*>(body_.layers().front().get());
}

Conv2dLayer* ResidualBlock::first_shortcut_convolution() const {
  return shortcut_.empty() ? nullptr : dynamic_cast<Conv2dLayer*>(shortcut_.layers().front().get());
}

bool ResidualBlock::convolutions_take_bf16_input(Device dev) const {
  Conv2dLayer* conv = first_convolution();
  Conv2dLayer* skip_conv = first_shortcut_convolution();
  return conv && conv->bf16_eligible(dev) &&
         (shortcut_.empty() || (skip_conv && skip_conv->bf16_eligible(dev)));
}

Tensor ResidualBlock::bf16_output_copy() const {
  return y16_.defined() ? y16_.rows(0, y16_rows_) : Tensor();
}

void ResidualBlock::prepare(int64_t max_rows, Device dev) {
  const int64_t max_batch = max_rows / in_.rows;
  // A projection block whose body and shortcut both start with a bf16 convolution casts its
  // input once for both (x16_ below): they take it in bf16 and keep no copies of their own. A
  // block whose input the block before stores in bf16 reads that copy instead (identity
  // shortcut or projection alike).
  Conv2dLayer* conv = first_convolution();
  Conv2dLayer* skip_conv = first_shortcut_convolution();
  const bool shared =
      conv && skip_conv && conv->bf16_eligible(dev) && skip_conv->bf16_eligible(dev);
  from_source_ = source_ && convolutions_take_bf16_input(dev);
  if (conv) conv->set_bf16_input(shared || from_source_);
  if (skip_conv) skip_conv->set_bf16_input(shared || from_source_);
  // The body's and the shortcut's input gradients may come in bf16 (their first convolution's
  // own): relu_mask_add and residual_add widen them on the load, exactly.
  body_.prepare(max_batch, dev, dtype_, in_.width, /*input_grad=*/true, /*bf16_input_grad=*/true);
  if (!shortcut_.empty()) {
    shortcut_.prepare(max_batch, dev, dtype_, in_.width, /*input_grad=*/true,
                      /*bf16_input_grad=*/true);
    dx_shortcut_ = Tensor::empty({max_rows, in_.width}, dtype_, dev);
  }
  y_ = Tensor::empty({max_batch * out_.rows, out_.width}, dtype_, dev);
  x16_ =
      shared && !from_source_ ? Tensor::empty({max_rows, in_.width}, DType::bf16, dev) : Tensor();
  KASMINA_CHECK(!copy_out_ || dtype_ == DType::f32, name_ + ": a bf16 output copy needs float32");
  y16_ =
      copy_out_ ? Tensor::empty({max_batch * out_.rows, out_.width}, DType::bf16, dev) : Tensor();
  y16_rows_ = 0;
}

Tensor ResidualBlock::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  Tensor in = x;
  if (from_source_) {  // the block before stored x in bf16 in this forward
    in = source_->bf16_output_copy();
    KASMINA_CHECK(in.defined() && in.dim(0) == x.dim(0),
                  name_ + ": the bf16 copy of the input does not match it");
  } else if (x16_.defined()) {
    in = bf16_copy(x, x16_);
  }
  const Tensor h = body_.forward(in, mode, ctx);
  const Tensor skip = shortcut_.empty() ? x : shortcut_.forward(in, mode, ctx);
  Tensor y = y_.rows(0, h.dim(0));
  Tensor y16 = copy_out_ ? y16_.rows(0, h.dim(0)) : Tensor();
  y16_rows_ = copy_out_ ? h.dim(0) : 0;
  if (tail_ && mode == Mode::train) {
    // h and skip are the normalisations' inputs here (their apply is deferred to this pass).
    const ops::BatchNormTerm body = tail_->term();
    const ops::BatchNormTerm short_bn = skip_tail_ ? skip_tail_->term() : ops::BatchNormTerm{};
    ops::batchnorm_residual_forward(body, skip_tail_ ? &short_bn : nullptr, skip, relu_, y,
                                    copy_out_ ? &y16 : nullptr);
    if (relu_) {
      tail_->mask_backward_by(y);
      if (skip_tail_) skip_tail_->mask_backward_by(y);
    }
    return y;
  }
  ops::residual_add(skip, h, y);
  if (relu_) ops::activation_forward(ops::Activation::relu, y, y);
  if (copy_out_) ops::cast_to_bf16(y, y16);
  return y;
}

void ResidualBlock::backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) {
  // With a fused relu, dy is the gradient w.r.t. the block's output after the relu: the
  // normalisations at the ends of the body and the shortcut mask it themselves.
  const Tensor g = body_.backward(dy, ctx);  // the body's input gradient (may be dy itself)
  if (shortcut_.empty()) {
    if (!dx) return;
    if (relu_) {
      ops::relu_mask_add(dy, y_.rows(0, dy.dim(0)), g, *dx);
    } else {
      ops::residual_add(dy, g, *dx);
    }
    return;
  }
  // The body's gradient is a view of its own buffer, which the shortcut's backward does not
  // touch; the shortcut's may be dy itself.
  const Tensor gs = shortcut_.backward(dy, ctx);
  if (dx) ops::residual_add(gs, g, *dx);
}

void ResidualBlock::collect_morph_layers(std::vector<morph::KasminaLayer*>& out) {
  for (Layer* l : all_layers()) l->collect_morph_layers(out);
}

std::unique_ptr<Layer> build_residual_block(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const ResidualConfig& r = cfg.as<ResidualConfig>();
  const SampleShape in = ctx.shape;
  const std::string name = ctx.name;
  ctx.prefix = name + ".layers";
  std::vector<std::unique_ptr<Layer>> body = build_layers(r.layers, ctx);
  const SampleShape out = ctx.shape;
  std::vector<std::unique_ptr<Layer>> shortcut;
  if (!r.shortcut.empty()) {
    ctx.shape = in;
    ctx.prefix = name + ".shortcut";
    shortcut = build_layers(r.shortcut, ctx);
  }
  ctx.shape = in;
  auto block =
      std::make_unique<ResidualBlock>(name, in, std::move(body), std::move(shortcut), ctx.dtype);
  block->set_out_image(out.image);
  return block;
}

void ResidualBlock::save_state(StateWriter& out) const {
  for (Layer* l : all_layers()) l->save_state(out);
}

void ResidualBlock::load_state(const StateReader& in) {
  for (Layer* l : all_layers()) l->load_state(in);
}

}  // namespace kasmina
