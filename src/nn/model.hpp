// The host network: a graph of layers (a sequence whose entries may be residual blocks) built
// from the model config through the layer registry (nn/layer_registry.hpp), with the backward
// pass composed so that a linear layer's input gradient fuses the previous layer's activation
// backward and bias gradient (cuBLASLt DRELU_BGRAD / DGELU_BGRAD on CUDA; see LayerSequence).
// All parameter gradients live in one flat buffer (gradient_buffer()).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "nn/gradient_buffer.hpp"
#include "nn/layer.hpp"
#include "nn/layer_sequence.hpp"

namespace kasmina {

namespace morph {
class KasminaLayer;
}
class WidthGrowLinear;

class Model {
 public:
  // Builds the layers for inputs of shape `input` (a width: one row of features), initialising
  // parameters deterministically from `seed` directly on `dev`. dtype float64 (CPU) is for tests.
  Model(const ModelConfig& cfg, const SampleShape& input, uint64_t seed, Device dev,
        DType dtype = DType::f32);
  // Takes ownership of already-built layers (tests, later layer types).
  Model(std::vector<std::unique_ptr<Layer>> layers, Device dev, DType dtype = DType::f32);

  Device device() const { return dev_; }
  int64_t in_width() const;
  int64_t out_width() const;
  const std::vector<std::unique_ptr<Layer>>& layers() const { return body_.layers(); }
  std::vector<Parameter*> parameters();
  int64_t parameter_count();
  std::vector<std::string> describe() const;  // one line per layer

  // Analytic training FLOPs (Layer::train_flops): of one step on `batch` rows of the layers'
  // forward and backward (no input gradient for the first layer) plus `optimizer_flops` per
  // parameter; and what layers count themselves (a kasmina layer's seeds, by stage) over every
  // step up to the boundary whose StepContext step is `last_boundary_step`.
  double train_flops_per_step(int64_t batch, int optimizer_flops);
  double counted_train_flops(int64_t last_boundary_step) const {
    return body_.counted_train_flops(last_boundary_step);
  }

  // Allocates every buffer for batches of up to max_batch rows (forward and backward).
  void prepare(int64_t max_batch);
  // x [B, in] -> logits [B, out] (a view of the last layer's buffer).
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx);
  // dlogits [B, out] of the last forward; writes every parameter gradient.
  void backward(const Tensor& dlogits, const StepContext& ctx);

  // Every parameter gradient in one flat, aligned buffer (each Parameter::grad is a view into
  // it): a data-parallel all-reduce of the gradients is one call on gradient_buffer().flat().
  GradientBuffer& gradient_buffer() { return grads_; }

  // Morphogenetic layers, in model order (their index is MorphConfig::layer_index).
  const std::vector<morph::KasminaLayer*>& morph_layers() const { return morph_layers_; }
  // Width-growing linear layers (linear grow_from), in model order.
  const std::vector<WidthGrowLinear*>& width_layers() const { return width_layers_; }
  // The step boundary of every morphogenetic layer (after the optimizer step).
  void end_step(const StepContext& ctx);
  // Host-side decisions of the next training step (see KasminaLayer::train_step_key): a CUDA
  // graph captured under one key replays that step exactly.
  uint64_t train_step_key() const;
  // Host bookkeeping of a training step whose launches were replayed from a graph.
  void replayed_train_step();
  // KasminaLayer::upgrade_kernels of every morphogenetic layer: what changed (empty: nothing;
  // a step graph captured before a change must be captured again).
  std::vector<std::string> upgrade_kernels(bool wait);

  // Start of training epoch `epoch` (0-based) before global step `step`: width seeds due then
  // are activated (nn/width_grow_linear.hpp).
  void begin_epoch(int64_t epoch, int64_t step);

  // Checkpoint sections of every layer, in model order (nn/model_state.cpp).
  void save_state(StateWriter& out) const;
  void load_state(const StateReader& in);

 private:
  void finish();  // after the layers are built: morph layers, gradient buffer

  Device dev_;
  DType dtype_;
  LayerSequence body_;
  std::vector<morph::KasminaLayer*> morph_layers_;
  std::vector<WidthGrowLinear*> width_layers_;
  GradientBuffer grads_;
  int64_t max_batch_ = 0;
};

}  // namespace kasmina
