// Width seeds: a linear layer allocated at its maximum width `out` whose units become active in
// chunks on a fixed early schedule, or when the controller says so (config keys grow_from,
// grow_first_epoch, grow_epochs, grow_init, grow_schedule of `type: linear`; docs/GROWTH.md). Units
// [active, out) are dormant: their incoming weights and bias are zero and the next linear layer's
// columns for them are zero, so they output 0 and — through relu/gelu, whose value at 0 is 0 —
// receive exactly zero gradients and AdamW moments, and stay zero. At the start of epochs
// grow_first_epoch .. grow_first_epoch + grow_epochs - 1 the next (out - grow_from) / grow_epochs
// units are activated:
// - preserving (default): random incoming weights and bias (U(±1/sqrt(in)), a fresh stream of
//   the run seed, the layer and the unit), zero outgoing weights: the network's outputs are
//   bitwise unchanged, and the outgoing weights learn from the next step's gradient g hᵀ;
// - naive: the outgoing weights are random too (U(±1/sqrt(active width))), the control arm of
//   a non-preserving graft.
// Under grow_schedule controller the epochs are not used: the heuristic controller reads the
// layer's gradient score (measure_score, nn/width_score.hpp) and asks for each of the
// grow_epochs steps through grow_step (control/width_adapter.hpp).
// Shapes never change, so the optimizer state and checkpoints keep their shapes; the active
// width and the growth steps are checkpoint entries "<name>.active_width", "<name>.grow_steps".
// Training FLOPs count the active width only (the layer's GEMMs and the next layer's GEMMs over
// the active inputs); the optimizer's per-parameter FLOPs are counted at the full width.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/layers/linear.hpp"
#include "core/rng.hpp"
#include "nn/layer.hpp"
#include "nn/layer_registry.hpp"
#include "nn/linear.hpp"
#include "nn/width_score.hpp"

namespace kasmina {

struct WidthSchedule {
  int64_t from = 0;         // active units at the start
  int64_t first_epoch = 1;  // the first epoch (0-based) at whose start units are activated
  int64_t epochs = 1;       // growth events, one per epoch
  bool naive = false;       // random outgoing weights at activation (not function-preserving)
  bool controlled = false;  // the controller decides when each step happens (no epochs)
  uint64_t seed = 0;        // run seed
  uint64_t position = 0;    // the layer's config position (its initialisation stream)
  std::string name;         // the layer's name ("layers.0"): its checkpoint entries
};

class WidthGrowLinear final : public Layer {
 public:
  WidthGrowLinear(std::unique_ptr<LinearLayer> inner, WidthSchedule schedule);

  std::string type() const override { return "linear"; }
  std::string describe() const override;
  int64_t in_width() const override { return inner_->in_width(); }
  int64_t out_width() const override { return inner_->out_width(); }
  std::vector<Parameter*> parameters() override { return inner_->parameters(); }
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override {
    Tensor y = inner_->forward(x, mode, ctx);
    if (mode == Mode::train) last_out_ = y;
    return y;
  }
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override {
    inner_->backward(dy, dx, ctx);
  }
  bool absorb_next(const Layer& next) override { return inner_->absorb_next(next); }
  GradEpilogue output_grad_epilogue() override { return inner_->output_grad_epilogue(); }
  GradForm backward_fused(const Tensor& dy, GradForm form, Tensor* dx, const GradEpilogue& below,
                          const StepContext& ctx) override {
    return inner_->backward_fused(dy, form, dx, below, ctx);
  }

  // The layer's FLOPs at the initial width, minus the next layer's GEMMs over dormant inputs;
  // growth events add theirs through counted_train_flops.
  double train_flops(int64_t batch, bool input_grad) const override;
  double counted_train_flops(int64_t last_boundary_step) const override;

  // Connects the next linear layer (the one reading this layer's units) and makes the dormant
  // units exactly zero (this layer's rows and bias, the next layer's columns). The next layer's
  // active columns and bias are rescaled by sqrt(out / from), so the active network starts as a
  // static network of width `from` would (fan-in `from`). Called once, before prepare.
  void attach_next(LinearLayer& next);
  bool attached() const { return next_ != nullptr; }
  LinearLayer& linear() { return *inner_; }
  // At the start of epoch `epoch` (0-based), before global step `step`: activates the units due
  // by then (idempotent: a resumed run calls it again). Nothing under the controller.
  void begin_epoch(int64_t epoch, int64_t step);
  int64_t active_width() const { return active_; }
  int64_t chunk() const;
  bool controlled() const { return sched_.controlled; }
  const std::string& name() const { return sched_.name; }
  uint64_t position() const { return sched_.position; }
  int64_t steps_done() const { return static_cast<int64_t>(grow_steps_.size()); }
  int64_t steps_total() const { return sched_.epochs; }
  // Activates the next group before global step `step` (the controller's width step); false
  // when every unit is active already.
  bool grow_step(int64_t step);
  // The gradient score of the next group on the last training step (after its backward, before
  // any other forward): invalid when every unit is active or no step ran yet. Reads the layer's
  // input, output and the next layer's pre-activation gradient (one host read).
  WidthScore measure_score() const;

  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

 private:
  void activate_chunk(int64_t step);
  // The initialisation stream of the group starting at unit `first` and its incoming weights
  // [chunk, in] and bias [chunk] (drawn first from that stream).
  Rng chunk_rng(int64_t first) const;
  void draw_incoming(Rng& rng, std::vector<double>& w, std::vector<double>& bias) const;
  double chunk_flops_per_step() const;

  std::unique_ptr<LinearLayer> inner_;
  WidthSchedule sched_;
  LinearLayer* next_ = nullptr;
  Tensor last_out_;  // the last train-mode forward's output (a view)
  int64_t active_ = 0;
  std::vector<int64_t> grow_steps_;  // the global step of each growth event so far
  mutable int64_t flops_batch_ = 0;  // the batch and input gradient of the last train_flops call
  mutable bool flops_input_grad_ = false;
};

// The builder's wrapping of a `type: linear` entry with grow_from > 0.
std::unique_ptr<Layer> make_width_grow_linear(std::unique_ptr<LinearLayer> layer,
                                              const LinearConfig& cfg,
                                              const LayerBuildContext& ctx);

// Connects every width-growing linear layer of `layers` (top level) to the linear layer after
// it; UserError when there is none or something other than relu, gelu or dropout lies between.
std::vector<WidthGrowLinear*> attach_width_layers(
    const std::vector<std::unique_ptr<Layer>>& layers);

}  // namespace kasmina
