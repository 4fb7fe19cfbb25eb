// Linear layer y = act(x·Wᵀ + b), with an optional fused activation (relu/gelu). The model
// builder fuses `linear` + `relu|gelu` config entries into one LinearLayer so the CUDA path can
// use cuBLASLt's bias+activation epilogues forward and its dReLU/dGELU+bias-gradient
// epilogues backward.
#pragma once
#include <memory>

#include "config/config.hpp"
#include "nn/bf16_gemm_inputs.hpp"
#include "nn/layer.hpp"
#include "ops/ops.hpp"

namespace kasmina {

class Rng;
struct LayerBuildContext;

InitScheme parse_init_scheme(const std::string& name);  // UserError on unknown names
// A float32 or float64 tensor on `dev` holding `v`.
Tensor tensor_from_doubles(const std::vector<double>& v, const Shape& shape, DType dtype,
                           Device dev);

class LinearLayer final : public Layer {
 public:
  // dtype: float32 for training; float64 on the CPU for finite-difference tests.
  LinearLayer(std::string name, int64_t in, int64_t out, bool bias, ops::Activation act,
              DType dtype = DType::f32);

  std::string type() const override { return "linear"; }
  std::string describe() const override;
  int64_t in_width() const override { return in_; }
  int64_t out_width() const override { return out_; }
  std::vector<Parameter*> parameters() override;
  // Forward: x Wᵀ (2 B in out), + b (B out), the fused activation. Backward: the activation's
  // backward, dW = dyᵀ x (2 B in out), db (B out), and with the input gradient dx = dy W
  // (2 B in out).
  double train_flops(int64_t batch, bool input_grad) const override;
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

  // Initialises W (and b) on the host from `rng` and copies them to the layer's device:
  // kaiming_uniform = PyTorch's nn.Linear default (W, b ~ U(±1/sqrt(in)));
  // xavier_uniform = W ~ U(±sqrt(6/(in+out))), b = 0; normal = W ~ N(0, 1/in), b = 0.
  // The parameters are created on `dev`.
  void initialize(InitScheme scheme, Rng& rng, Device dev);

  // Fusion hooks (see Layer): absorbs a directly following relu/gelu layer into the GEMM
  // epilogue; offers that activation's backward and the bias gradient to the layer above; and
  // fuses the layer below's offer into its input-gradient GEMM.
  bool absorb_next(const Layer& next) override;
  GradEpilogue output_grad_epilogue() override;
  GradForm backward_fused(const Tensor& dy, GradForm form, Tensor* dx, const GradEpilogue& below,
                          const StepContext& ctx) override;
  ops::Activation activation() const { return act_; }

  // bf16 activations (docs/PRECISION.md): asks the layer to store its output (and its GELU
  // pre-activation) in bf16 because the layer reading it is a linear layer whose GEMM reads bf16
  // (set by the layer sequence before prepare()). Effective only when the layer's GEMMs run in
  // bf16 (Bf16GemmInputs on) and keep_output_fp32() was not called; the gradient with respect to
  // the output then arrives in bf16 too (written by the next layer's input-gradient GEMM).
  void set_bf16_output(bool on) { bf16_output_wanted_ = on; }
  // A width seed reads this layer's pre-activation gradient in float32: never bf16 output.
  void keep_output_fp32() { output_fp32_pinned_ = true; }
  // A width seed changes this layer's weights outside the optimizer: no optimizer-kept bf16 copy
  // (Parameter::bf16_copy), the forward casts its own each step. Before prepare().
  void keep_weight_cast() { weight_cast_pinned_ = true; }
  // The dtype of the output after prepare(): the layer's dtype, or bf16 (set_bf16_output).
  DType output_dtype() const { return y_.defined() ? y_.dtype() : dtype_; }
  bool bf16_output() const override { return output_dtype() == DType::bf16; }
  // After prepare(): whether the layer's GEMMs read bf16 (train.precision: bf16, float32 layer).
  bool bf16_gemms() const { return bf16_.on(); }
  // After prepare(): whether the gradient w.r.t. this layer's output may arrive in bf16 although
  // its output is not bf16 (the layer sequence's bf16 gradient hand-off): its GEMMs read bf16
  // and no width seed reads its pre-activation gradient in float32.
  bool accepts_bf16_output_grad() const { return bf16_.on() && !output_fp32_pinned_; }
  // The last forward's input and the last backward's gradient with respect to the
  // pre-activation (views of the step's buffers, valid until the next forward / backward):
  // width seeds read them for their gradient score (nn/width_score.hpp), float32 when they read
  // them (WidthGrowLinear keeps its inner layer's input and its next layer's output fp32).
  const Tensor& last_input() const { return x_batch_; }
  const Tensor& last_preactivation_grad() const { return dpre_batch_; }

 private:
  std::string name_;
  int64_t in_, out_;
  bool has_bias_;
  ops::Activation act_;
  DType dtype_;
  Parameter weight_, bias_;
  Tensor y_, aux_, dpre_;       // buffers for max_batch rows
  Tensor x_batch_, aux_batch_;  // last forward's GEMM input and aux (views)
  Tensor dpre_batch_;           // last backward's pre-activation gradient (a view)
  Bf16GemmInputs bf16_;         // train.precision: bf16 (off otherwise)
  bool bf16_output_wanted_ = false, output_fp32_pinned_ = false, weight_cast_pinned_ = false;
};

// The registry's builder for `type: linear` (initialised from the run seed and the entry's
// position).
std::unique_ptr<Layer> build_linear_layer(const LayerConfig& cfg, LayerBuildContext& ctx);

}  // namespace kasmina
