// The layer interface of the host network. Layers are device-agnostic: they hold tensors on
// the model's device and compute only through src/ops. Buffers are allocated once by
// prepare(); forward/backward allocate nothing, so a step can be captured in a CUDA graph.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/sample_shape.hpp"
#include "core/stateful.hpp"
#include "core/tensor.hpp"
#include "ops/ops.hpp"

namespace kasmina {

namespace morph {
class KasminaLayer;
}

struct Parameter {
  std::string name;  // "layers.0.weight"
  Tensor value;
  Tensor grad;  // same shape; overwritten by each backward
  // In bf16 mode with optimizer_bf16_copies() on: the bf16 copy of `value` the layer's GEMMs or
  // convolutions read, kept current by whoever changes `value` (made by the layer's prepare(),
  // rewritten by the optimizer's update in the same launch and by Layer::load_state), so the
  // layer casts nothing in its forward. Undefined otherwise (the layer casts each forward).
  // The optimizer takes the copies when it is built, after the layers' prepare(); a later
  // prepare() keeps the same copy tensors, so the optimizer keeps writing the ones read.
  Tensor bf16_copy;
};

// bf16 weight copies written by the optimizer (docs/PRECISION.md, "Weight copies"): on by
// default (measured faster on the GPU: bench/RESULTS.md); KASMINA_OPTIMIZER_BF16_COPIES=0 in the
// environment (read when first asked) or set_optimizer_bf16_copies(false) switches them off,
// and each layer casts its weight in its forward. Read by the layers' prepare(). Defined in
// nn/optimizer.cpp.
bool optimizer_bf16_copies();
void set_optimizer_bf16_copies(bool on);

enum class Mode { train, eval };

// What a layer lets the layer above fuse into the computation of the gradient with respect to
// its output: a linear layer with a fused activation offers that activation's backward (from
// its saved pre-activation `aux`) and its bias gradient, so the next linear layer's input
// gradient GEMM applies them in its epilogue (cuBLASLt DRELU_BGRAD / DGELU_BGRAD on CUDA).
struct GradEpilogue {
  ops::Activation activation = ops::Activation::none;  // none: nothing to fuse
  Tensor aux;                                          // the layer's saved pre-activation state
  Tensor* bias_grad = nullptr;  // written by the fused epilogue when not null
};

// The form of a gradient handed from one layer to the one below: with respect to its output,
// or (after a fused epilogue) with respect to its pre-activation, its bias gradient done.
enum class GradForm { output, pre_activation };

// Per-step values shared by all layers, living on the model's device.
struct StepContext {
  Tensor step;        // i64[1]: number of optimizer steps taken so far (read on the device)
  uint64_t seed = 0;  // run seed (dropout and blueprint streams derive from it)
};

class Layer : public Stateful {
 public:
  virtual ~Layer() = default;
  virtual std::string type() const = 0;      // config type name: "linear", "relu", ...
  virtual std::string describe() const = 0;  // one line: "linear 784 -> 256 (+relu fused)"
  // Widths are features per row. A sample is `in_rows()` rows of in_width() features (one row
  // in an MLP; the pixels of a feature map or the tokens of a transformer otherwise:
  // core/sample_shape.hpp), so a batch of B samples is a [B * in_rows(), in_width()] matrix.
  virtual int64_t in_width() const = 0;
  virtual int64_t out_width() const = 0;
  int64_t in_rows() const { return in_rows_; }
  int64_t out_rows() const { return out_shape(SampleShape(in_rows_, in_width())).rows; }
  // The shape the layer produces from the shape it receives: by default, each row mapped to
  // out_width() features (advance_rowwise); layers that change the rows (a convolution with a
  // stride, a pooling, a patch embedding) say what they produce.
  virtual SampleShape out_shape(const SampleShape& in) const {
    return advance_rowwise(in, out_width());
  }
  // Set by the builder of the model (nn/layer_registry.cpp) from the shape the layer receives.
  void set_in_rows(int64_t rows) { in_rows_ = rows; }
  virtual std::vector<Parameter*> parameters() { return {}; }
  // Allocates buffers for inputs of up to `max_rows` rows (max_batch * in_rows()) on `dev`.
  virtual void prepare(int64_t max_rows, Device dev) = 0;
  // x [B, in] with B <= max_rows rows (B / in_rows() samples); returns [B', out] (B' = B for a
  // layer that keeps the rows), a view of a buffer the layer owns that stays valid until the
  // layer's next forward.
  virtual Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) = 0;
  // dy [B, out] for the last forward's input; writes parameter gradients and, when dx is not
  // null, the gradient with respect to the input ([B, in]).
  virtual void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) = 0;
  // True when the last forward returned its input unchanged (an identity step): the model then
  // passes the gradient through without calling backward() and without a copy.
  virtual bool passes_gradient_through() const { return false; }
  // True when, after prepare(), the forward returns bf16 values and the backward takes the
  // gradient w.r.t. them in bf16 (docs/PRECISION.md: bf16 activations between linear layers, bf16
  // maps between convolutions); the sequence then makes that gradient buffer bf16.
  virtual bool bf16_output() const { return false; }

  // Checkpoint section (core/stateful.hpp), given the root view: by default the layer's
  // parameters under their own names ("layers.0.weight"); a layer with more state adds its own
  // entries (nn/layer_state.cpp).
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

  // ---- Training FLOPs (analytic; summary.json `train_flops`, the telemetry column) ----
  // FLOPs of one training step of this layer on `batch` input rows: its forward, and its backward
  // with the input gradient only when `input_grad` (the model's first layer computes none). 2 per
  // multiply-add, 1 per elementwise operation, the layer's formula beside it (nn/flops.hpp holds
  // the shared ones). The optimizer's update of parameters() is counted by the model.
  virtual double train_flops(int64_t batch, bool input_grad) const = 0;
  // FLOPs the layer counts itself because its cost changes during the run (a kasmina layer's
  // seeds, by stage), over every training step up to the boundary whose StepContext step is
  // `last_boundary_step`; added to the per-step formula.
  virtual double counted_train_flops(int64_t last_boundary_step) const {
    (void)last_boundary_step;
    return 0.0;
  }

  // ---- Hooks through which the model composes layers (defaults: no fusion, no growth) ----

  // A pointwise activation layer returns its activation (the layer before it may absorb it).
  virtual ops::Activation pointwise_activation() const { return ops::Activation::none; }
  // Offered the layer that follows in the config before prepare(); returns true when this layer
  // absorbs it (a linear layer fuses a following relu/gelu into its GEMM epilogue); the model
  // then drops `next`.
  virtual bool absorb_next(const Layer& next) {
    (void)next;
    return false;
  }
  // See GradEpilogue; valid after a forward.
  virtual GradEpilogue output_grad_epilogue() { return {}; }
  // backward() with fusion across layers: `dy` is in `form` (pre_activation only when this
  // layer offered a non-empty output_grad_epilogue()), `below` is what the layer below offers
  // (applied when this layer computes dx with a GEMM). Returns the form of *dx.
  virtual GradForm backward_fused(const Tensor& dy, GradForm form, Tensor* dx,
                                  const GradEpilogue& below, const StepContext& ctx) {
    (void)form;
    (void)below;
    backward(dy, dx, ctx);
    return GradForm::output;
  }
  // Appends the morphogenetic layers this layer is or contains, in model order.
  virtual void collect_morph_layers(std::vector<morph::KasminaLayer*>& out) { (void)out; }

 private:
  int64_t in_rows_ = 1;
};

}  // namespace kasmina
