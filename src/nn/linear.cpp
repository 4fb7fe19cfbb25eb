#include "nn/linear.hpp"

#include <cmath>

#include "config/enum_names.hpp"
#include "config/layers/linear.hpp"
#include "core/rng.hpp"
#include "nn/flops.hpp"
#include "nn/layer_registry.hpp"
#include "nn/width_grow_linear.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina {

Tensor tensor_from_doubles(const std::vector<double>& v, const Shape& shape, DType dtype,
                           Device dev) {
  if (dtype == DType::f64) return Tensor::from_vector(v, shape, dev);
  KASMINA_CHECK(dtype == DType::f32, "parameters are float32 or float64");
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape, dev);
}

InitScheme parse_init_scheme(const std::string& name) {
  if (const auto scheme = config_detail::enum_from_name<InitScheme>(name)) return *scheme;
  throw UserError("model.init: '" + name +
                  "' is not allowed (allowed: " + config_detail::enum_allowed<InitScheme>() + ")");
}

LinearLayer::LinearLayer(std::string name, int64_t in, int64_t out, bool bias, ops::Activation act,
                         DType dtype)
    : name_(std::move(name)), in_(in), out_(out), has_bias_(bias), act_(act), dtype_(dtype) {
  weight_.name = name_ + ".weight";
  bias_.name = name_ + ".bias";
}

double LinearLayer::train_flops(int64_t batch, bool input_grad) const {
  const double gemm = flops::gemm(batch, in_, out_);
  const double outs = static_cast<double>(batch * out_);
  const double bias = has_bias_ ? outs : 0.0;
  return gemm + bias + flops::activation(act_, outs, false) +  // forward
         flops::activation(act_, outs, true) + gemm + bias +   // backward: activation, dW, db
         (input_grad ? gemm : 0.0);                            // dx
}

std::string LinearLayer::describe() const {
  std::string s = "linear " + std::to_string(in_) + " -> " + std::to_string(out_);
  if (!has_bias_) s += " (no bias)";
  if (act_ != ops::Activation::none)
    s += std::string(" + ") + ops::activation_name(act_) + " (fused)";
  return s;
}

std::vector<Parameter*> LinearLayer::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

void LinearLayer::prepare(int64_t max_batch, Device dev) {
  KASMINA_CHECK(weight_.value.defined() && weight_.value.device() == dev,
                name_ + ": prepare() before initialize() on " + dev.str());
  bf16_.prepare(max_batch, in_, out_, dtype_, dev);
  // The weight copy kept current by the optimizer (Parameter::bf16_copy), made here once.
  weight_.bf16_copy = Tensor();
  if (bf16_.on() && optimizer_bf16_copies() && !weight_cast_pinned_) {
    weight_.bf16_copy = bf16_.weight(weight_.value);
    ops::cast_to_bf16(weight_.value, weight_.bf16_copy);
  }
  // The output (and a GELU layer's saved pre-activation) in bf16 for a linear layer after it.
  const bool bf16_out = bf16_.on() && bf16_output_wanted_ && !output_fp32_pinned_;
  const DType out = bf16_out ? DType::bf16 : dtype_;
  y_ = Tensor::empty({max_batch, out_}, out, dev);
  aux_ = ops::make_linear_aux(max_batch, out_, act_, dev, out);
  // A bf16 output gradient arriving unfused (from a kasmina layer above) gives a bf16 one here.
  if (act_ != ops::Activation::none) dpre_ = Tensor::empty({max_batch, out_}, out, dev);
}

void LinearLayer::initialize(InitScheme scheme, Rng& rng, Device dev) {
  std::vector<double> w(static_cast<size_t>(out_ * in_)), b(static_cast<size_t>(out_), 0.0);
  const double fan_in = static_cast<double>(in_);
  switch (scheme) {
    case InitScheme::kaiming_uniform: {
      const double bound = 1.0 / std::sqrt(fan_in);
      for (double& v : w) v = static_cast<float>(rng.uniform(-bound, bound));
      if (has_bias_)
        for (double& v : b) v = static_cast<float>(rng.uniform(-bound, bound));
      break;
    }
    case InitScheme::xavier_uniform: {
      const double bound = std::sqrt(6.0 / (fan_in + static_cast<double>(out_)));
      for (double& v : w) v = static_cast<float>(rng.uniform(-bound, bound));
      break;
    }
    case InitScheme::normal: {
      const double sd = 1.0 / std::sqrt(fan_in);
      for (double& v : w) v = static_cast<float>(rng.normal() * sd);
      break;
    }
  }
  // A layer without bias still feeds a zero bias to the fused GEMM epilogue.
  // Values are drawn in double and rounded to float, so float32 and float64 models start from
  // the same numbers.
  weight_.value = tensor_from_doubles(w, {out_, in_}, dtype_, dev);
  bias_.value = tensor_from_doubles(b, {out_}, dtype_, dev);
  weight_.grad = Tensor::zeros({out_, in_}, dtype_, dev);
  bias_.grad = Tensor::zeros({out_}, dtype_, dev);
}

Tensor LinearLayer::forward(const Tensor& x, Mode, const StepContext&) {
  const int64_t B = x.dim(0);
  Tensor y = y_.rows(0, B);
  aux_batch_ = aux_.defined() ? aux_.rows(0, B) : Tensor();
  x_batch_ = bf16_.cast_input(x);  // bf16 mode: the bf16 copies are the GEMM's inputs
  const Tensor w =
      weight_.bf16_copy.defined() ? weight_.bf16_copy : bf16_.cast_weight(weight_.value);
  ops::linear_forward(x_batch_, w, bias_.value, act_, y, aux_batch_);
  return y;
}

bool LinearLayer::absorb_next(const Layer& next) {
  const ops::Activation act = next.pointwise_activation();
  if (act_ != ops::Activation::none || act == ops::Activation::none) return false;
  KASMINA_CHECK(!y_.defined(), name_ + ": absorb_next() after prepare()");
  act_ = act;
  return true;
}

GradEpilogue LinearLayer::output_grad_epilogue() {
  if (act_ == ops::Activation::none) return {};
  return GradEpilogue{act_, aux_batch_, has_bias_ ? &bias_.grad : nullptr};
}

GradForm LinearLayer::backward_fused(const Tensor& dy, GradForm form, Tensor* dx,
                                     const GradEpilogue& below, const StepContext&) {
  // The gradient w.r.t. the pre-activation; when it comes from the layer above's fused
  // epilogue, the bias gradient was written there too.
  const bool fused_in = form == GradForm::pre_activation;
  Tensor dpre = dy;  // bf16 when the layer above wrote it for this layer's bf16 output
  bool bias_done = fused_in;
  if (!fused_in && act_ != ops::Activation::none) {
    dpre = dpre_.rows(0, dy.dim(0));
    if (dy.dtype() == DType::bf16) {
      // From a layer above that cannot fuse the activation (a kasmina layer with bf16
      // activations): kasmina's pass, the bias gradient summed over the stored values.
      KASMINA_CHECK(act_ == ops::Activation::relu,
                    name_ + ": a bf16 output gradient arrives unfused only for ReLU");
      ops::activation_backward_aux_bf16(act_, dy, aux_batch_, dpre,
                                        has_bias_ ? &bias_.grad : nullptr);
      bias_done = true;
    } else {
      ops::activation_backward_aux(act_, dy, aux_batch_, dpre);
    }
  }
  dpre_batch_ = dpre;
  Tensor* db = (has_bias_ && !bias_done) ? &bias_.grad : nullptr;
  dpre = bf16_.cast_output_grad(dpre);
  ops::linear_backward_weight(dpre, x_batch_, weight_.grad, db);
  if (!dx) return GradForm::output;
  const Tensor w = bf16_.weight(weight_.value);
  if (below.activation != ops::Activation::none) {
    ops::linear_backward_input(dpre, w, below.activation, below.aux, *dx, below.bias_grad);
    return GradForm::pre_activation;
  }
  ops::linear_backward_input(dpre, w, ops::Activation::none, Tensor(), *dx, nullptr);
  return GradForm::output;
}

void LinearLayer::backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) {
  backward_fused(dy, GradForm::output, dx, GradEpilogue{}, ctx);
}

std::unique_ptr<Layer> build_linear_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const LinearConfig& p = cfg.as<LinearConfig>();
  auto layer = std::make_unique<LinearLayer>(ctx.name, ctx.shape.width, p.out, p.bias,
                                             ops::Activation::none, ctx.dtype);
  Rng rng(derive_seed(ctx.seed, "init.linear", ctx.position));
  layer->initialize(parse_init_scheme(ctx.init), rng, ctx.dev);
  if (p.grow_from > 0) return make_width_grow_linear(std::move(layer), p, ctx);
  return layer;
}

}  // namespace kasmina
