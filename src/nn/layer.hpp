// The layer interface of the host network. Layers are device-agnostic: they hold tensors on
// the model's device and compute only through src/ops. Buffers are allocated once by
// prepare(); forward/backward allocate nothing, so a step can be captured in a CUDA graph.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/stateful.hpp"
#include "core/tensor.hpp"

namespace kasmina {

struct Parameter {
  std::string name;  // "layers.0.weight"
  Tensor value;
  Tensor grad;       // same shape; overwritten by each backward
};

enum class Mode { train, eval };

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
  virtual int64_t in_width() const = 0;
  virtual int64_t out_width() const = 0;
  virtual std::vector<Parameter*> parameters() { return {}; }
  // Allocates buffers for batches of up to `max_batch` rows on `dev`.
  virtual void prepare(int64_t max_batch, Device dev) = 0;
  // x [B, in] with B <= max_batch; returns [B, out], a view of a buffer the layer owns that
  // stays valid until the layer's next forward.
  virtual Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) = 0;
  // dy [B, out] for the last forward's input; writes parameter gradients and, when dx is not
  // null, the gradient with respect to the input ([B, in]).
  virtual void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) = 0;
  // True when the last forward returned its input unchanged (an identity step): the model then
  // passes the gradient through without calling backward() and without a copy.
  virtual bool passes_gradient_through() const { return false; }

  // Checkpoint section (core/stateful.hpp), given the root view: by default the layer's
  // parameters under their own names ("layers.0.weight"); a layer with more state adds its own
  // entries (nn/layer_state.cpp).
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;
};

}  // namespace kasmina
