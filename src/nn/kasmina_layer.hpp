// KasminaLayer: the morphogenetic layer. Width H split into S chunks of C = H/S; seed s watches
// chunk s and may grow a blueprint there. Dormant seeds are the identity; all seeds of the
// layer are processed by the fused ops of src/ops/morph/ (one launch per op), with the seed
// state and the blueprint pool on the layer's device.
//
// Step protocol (the trainer calls these in order each training step):
//   y = forward(x, train, ctx);  backward(dy, &dx, ctx);  <host optimizer>;  end_step(ctx)
// end_step is the step boundary: blueprint AdamW (when a backward ran), the lifecycle step
// (time/gate transitions, then the queued host commands), and every `telemetry_every`
// boundaries a host read of events and telemetry (the only synchronisation of the layer).
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "morph/morph_config.hpp"
#include "morph/morph_events.hpp"
#include "morph/seed_state.hpp"
#include "nn/gradient_score.hpp"
#include "nn/layer.hpp"
#include "nn/seed_flop_ledger.hpp"
#include "ops/morph/kernel_record.hpp"
#include "ops/morph/morph_gemm_path.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/morph/morph_row_group.hpp"

namespace kasmina::ops {
class ModuleUpgrade;
}
namespace kasmina::morph {
class BlueprintModule;
}

namespace kasmina::morph {

// Whether kasmina layers may run in place (KASMINA_MORPH_IN_PLACE, default on; tests and
// benchmarks set it): KasminaLayer::set_input_owned.
bool morph_in_place();
void set_morph_in_place(bool on);

// Per-seed statistics over the steps since the previous read (mean/var/dead fraction/max |x| of
// the chunk's input activations) and the seed's lifecycle values at the read.
struct SeedTelemetry {
  int32_t seed = 0;
  Stage stage = Stage::dormant;
  int32_t blueprint = -1;
  float alpha = 0.0f;
  double samples = 0.0;  // activation values accumulated
  double mean = 0.0;
  double variance = 0.0;
  double dead_fraction = 0.0;
  double max_abs = 0.0;
  float iso_loss_ema = -1.0f;
  float drift_ema = 0.0f;
  float grad_norm_ema = -1.0f;
  float eval_score = 0.0f;
  // Gradient score of the chunk on the step before the read (nn/gradient_score.hpp): the sum
  // over its output units j of ||E[g_j a]||; -1 when not measured.
  double grad_score = -1.0;
};

class KasminaLayer final : public Layer {
 public:
  // Validates the options (UserError naming the key and what is allowed). dtype f64 is for the
  // CPU reference (finite-difference tests); CUDA needs f32.
  explicit KasminaLayer(const MorphConfig& cfg, DType dtype = DType::f32);

  std::string type() const override { return "kasmina"; }
  std::string describe() const override;
  int64_t in_width() const override { return cfg_.width; }
  int64_t out_width() const override { return cfg_.width; }
  // bf16 activations (docs/PRECISION.md, "The kasmina layers"): whether the fused ops can read
  // and write this layer's activations in bf16 (a float32 layer whose allowed blueprints are all
  // computed by the fused kernels: no IR blueprint, no row_mlp, residual_mlp not on the GEMM
  // path; chunks at most 64 wide or a multiple of 8). Decided by the config alone.
  bool bf16_capable() const;
  // Asks the layer to take its input and give its output in bf16 (and the gradients w.r.t. both)
  // because the layer before hands it bf16 and the one after reads bf16; set by the layer
  // sequence before prepare(), effective only when bf16_capable().
  void set_bf16_io(bool on) { bf16_io_wanted_ = on; }
  bool bf16_output() const override { return bf16_io_; }
  // Blueprint parameters live in the layer's pool and are stepped by end_step, so the host
  // optimizer sees none.
  std::vector<Parameter*> parameters() override { return {}; }
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

  // The step boundary (see the header comment).
  void end_step(const StepContext& ctx);

  // The host-side decisions of the next training step's forward/backward (dormant fast path,
  // statistics collection) select which kernels run, so a CUDA graph captured for one key
  // replays that step exactly; the trainer keeps one graph per combination of layer keys.
  uint32_t train_step_key() const;
  // The host bookkeeping of a training forward+backward whose launches were replayed from a
  // captured graph instead of being issued by forward()/backward().
  void replayed_train_step();
  // True when the last forward aliased its input: the backward is the identity too, and the
  // model passes the gradient straight through without calling backward().
  bool passes_gradient_through() const override { return last_identity_; }
  // Training FLOPs: a dormant seed's chunk is a copy (not counted); the seeds' FLOPs by stage are
  // counted from the lifecycle events (SeedFlopLedger; exact once the events are drained).
  double train_flops(int64_t batch, bool input_grad) const override {
    (void)batch;
    (void)input_grad;
    return 0.0;
  }
  double counted_train_flops(int64_t last_boundary_step) const override {
    return flops_.total(last_boundary_step);
  }
  void collect_morph_layers(std::vector<KasminaLayer*>& out) override { out.push_back(this); }

  // Host commands, queued and applied at the next end_step in queue order (refusals come back
  // as events with a refused_* reason).
  void germinate(int32_t seed, BlueprintKind blueprint);
  void cancel(int32_t seed) { request_transition(seed, Stage::cancelled); }
  void cull(int32_t seed) { request_transition(seed, Stage::culled); }
  void rollback(int32_t seed) { request_transition(seed, Stage::rolled_back); }
  void request_transition(int32_t seed, Stage to);
  // Evaluation score of a seed in EVALUATING (> 0: the seed improved the held-out loss).
  void set_eval_score(int32_t seed, float score);
  // Held-out loss improvement, read by the performance_linked grafting strategy.
  void set_improvement(int32_t seed, float improvement);
  size_t queued_commands() const { return queue_.size(); }

  // Emergency rollback on the device: `flag` (i32[1] on the layer's device, the loss guard's
  // flag, ops/guard/loss_guard.hpp) is read by every lifecycle step; when it is nonzero, seeds in
  // GRAFTING / STABILIZATION / FINE_TUNING go to ROLLED_BACK (reason loss_alarm), restoring
  // their pre-graft parameters and optimizer state. An undefined tensor disconnects the guard.
  void set_loss_alarm(const Tensor& flag);

  // Masked evaluation: in eval-mode forwards the listed seeds act with alpha 0 (identity), so a
  // trainer can compare the held-out loss with and without them.
  void set_eval_alpha_zero(const std::vector<int32_t>& seeds);
  void clear_eval_alpha_zero();

  // Events recorded since the previous call: those drained at the telemetry cadence plus a
  // fresh drain of the device ring (synchronous).
  std::vector<MorphEvent> drain_events();
  // Events lost because the ring overflowed between two drains.
  int64_t dropped_events() const { return dropped_events_; }
  // Telemetry accumulated since the previous read (synchronous); resets the accumulators.
  std::vector<SeedTelemetry> read_telemetry();
  // The telemetry read at the last cadence boundary (empty before the first).
  const std::vector<SeedTelemetry>& last_telemetry() const { return last_telemetry_; }

  // Measure the chunks' gradient score for each telemetry read from now on
  // (MorphConfig::gradient_score; SeedTelemetry::grad_score).
  void enable_gradient_score();
  const MorphConfig& config() const { return cfg_; }
  int32_t chunk() const { return static_cast<int32_t>(cfg_.width / cfg_.seeds); }
  // The blueprints' sizes on this layer (chunk, hidden, rank, and the width row_mlp reads).
  BlueprintShape blueprint_shape() const {
    return {chunk(), cfg_.hidden, cfg_.rank, static_cast<int32_t>(cfg_.width)};
  }
  // Parameters a seed adds to the network while it holds `blueprint` (0 for none: < 0).
  int64_t blueprint_parameters(int32_t blueprint) const;
  DType dtype() const { return dtype_; }
  Device device() const { return dev_; }
  SeedState& seed_state() { return state_; }
  const ops::MorphLayerBuffers& buffers() const { return buf_; }
  // Whether this layer's residual_mlp seeds run on the GEMM path (morph/seed_path.hpp).
  bool gemm_path() const { return buf_.gemm_kinds != 0; }
  // The blueprint kinds germinations may name (bit k: kind k): the config's, less the IR
  // blueprints whose kernels could not be prepared on this device (kasmina_layer_modules.cpp).
  uint32_t allowed_mask() const { return allowed_mask_; }
  // What prepare said about the layer's IR blueprints on CUDA (one line each: compiled or found
  // in the caches, or why a blueprint's germinations are refused on this device).
  const std::vector<std::string>& module_notes() const { return module_notes_; }
  // Swaps in the fused kernels of IR blueprints whose tiered compile served the linked ones at
  // prepare (ops/blueprint_compiler.hpp) once they are ready, or waits for all of them (`wait`);
  // host only, at a step boundary, never during a graph capture. One line for each swap or
  // failed one (also appended to module_notes); empty when nothing changed. A step graph captured
  // before a swap launches the old kernels: the trainer captures again.
  std::vector<std::string> upgrade_kernels(bool wait);
  // Whether kernels are still on the way (a tiered compile).
  bool upgrades_pending() const { return !pending_upgrades_.empty(); }
  // The same as records, one per IR blueprint the config allows (also on the CPU), then one per
  // swap of upgrade_kernels (the fused kernels' key and level, the time to take them).
  const std::vector<ops::KernelRecord>& kernel_records() const { return kernel_records_; }
  // Overwrites the seed state and slot ownership (checkpoint restore, tests); the host's view
  // of which seeds are active is recomputed.
  void restore_state(const HostSeedState& state, const std::vector<int32_t>& slot_owner);
  // Whether the last forward took the dormant fast path (output aliased the input).
  bool last_forward_was_identity() const { return last_identity_; }
  // In place (ops::MorphForwardOptions::in_place, on unless KASMINA_MORPH_IN_PLACE=0): a
  // forward writes its blends over x and leaves the other chunks unread but for the statistics
  // (no copy), and its backward puts x back. The sequence that runs the layer says, before each
  // forward, whether x is the output of a layer before it that nothing else reads
  // (input_owned), and before each backward whether dy is its own buffer (output_grad_owned:
  // then dx is dy, rewritten in its blended chunks only). Layers run outside a sequence copy.
  void set_input_owned(bool on) { input_owned_ = on; }
  void set_output_grad_owned(bool on) { output_grad_owned_ = on; }
  bool last_forward_in_place() const { return last_in_place_; }
  int64_t boundaries() const { return boundaries_; }
  // Host counters a checkpoint carries for a bit-exact resume: step boundaries seen (the
  // telemetry cadence), the event-ring read position, and the host's count of seeds that may be
  // active (it selects the step's kernels and the trainer's loss guard; an upper bound between
  // drains, so it is carried rather than recomputed). active_hint < 0: recompute it.
  struct HostCounters {
    int64_t boundaries = 0;
    int64_t ring_tail = 0;
    int64_t dropped_events = 0;
    int64_t active_hint = -1;
  };
  HostCounters host_counters() const {
    return {boundaries_, ring_tail_, dropped_events_, active_hint_};
  }
  void restore_host_counters(const HostCounters& c) {
    boundaries_ = c.boundaries;
    ring_tail_ = c.ring_tail;
    dropped_events_ = c.dropped_events;
    if (c.active_hint >= 0) active_hint_ = static_cast<int32_t>(c.active_hint);
  }
  // Whether any seed may be out of DORMANT (host view, no sync).
  bool may_have_active_seeds() const { return active_hint_ > 0; }
  // The host commands queued for the next boundary (checkpoint), and putting them back.
  std::vector<MorphCommand> queued_command_list() const { return {queue_.begin(), queue_.end()}; }
  void restore_queued_commands(const std::vector<MorphCommand>& c) {
    queue_.assign(c.begin(), c.end());
  }

  // Checkpoint section "seeds/kasmina<layer_index>/" (nn/kasmina_layer_state.cpp): the seed
  // state arrays, the pool and the layer's device buffers, its host counters and queued commands.
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

 private:
  struct StepPlan {
    bool identity = false;  // output aliases the input
    bool collect = false;   // statistics accumulated in this forward
    bool in_place = false;  // blends written over x (set_input_owned)
  };
  StepPlan plan(bool train) const;
  void note_plan(const StepPlan& p, bool train);
  void validate() const;
  void prepare_modules();
  void enqueue(const MorphCommand& c);
  void upload_commands();
  void drain_ring();
  void refresh_active_from_device();
  bool telemetry_due() const;
  bool grad_score_due() const { return grad_score_.enabled() && telemetry_due(); }

  MorphConfig cfg_;
  DType dtype_;
  Device dev_ = Device::cpu();
  int64_t max_batch_ = 0;
  bool prepared_ = false;
  SeedState state_;
  ops::MorphLayerBuffers buf_;
  ops::MorphGemmPath gemm_;
  ops::MorphRowGroup rows_;  // row_mlp seeds (they read the whole row)
  Tensor out_;
  Tensor x_saved_;
  Tensor command_staging_;
  Tensor loss_alarm_;  // the loss guard's flag (undefined: none)
  std::deque<MorphCommand> queue_;
  std::vector<MorphEvent> events_;
  std::vector<SeedTelemetry> last_telemetry_;
  SeedFlopLedger flops_;
  GradientScore grad_score_;
  int64_t ring_tail_ = 0;
  int64_t dropped_events_ = 0;
  int64_t boundaries_ = 0;
  int32_t active_hint_ = 0;  // seeds that may be non-dormant (exact after each drain)
  bool eval_mask_active_ = false;
  bool stats_fresh_ = false;
  bool grads_fresh_ = false;
  bool last_identity_ = false;
  bool last_train_ = false;
  bool last_in_place_ = false;
  bool input_owned_ = false, output_grad_owned_ = false;
  bool bf16_io_wanted_ = false, bf16_io_ = false;  // bf16 activations (set_bf16_io)
  uint32_t allowed_mask_ = 0;
  std::vector<std::string> module_notes_;
  std::vector<ops::KernelRecord> kernel_records_;
  struct PendingUpgrade {
    size_t module = 0, record = 0;  // indices in buf_.modules and kernel_records_
    std::string where;              // "kasmina layer 1: blueprint 'gated_mlp'"
    std::shared_ptr<const ops::ModuleUpgrade> upgrade;
  };
  std::vector<PendingUpgrade> pending_upgrades_;
  std::vector<std::shared_ptr<const BlueprintModule>> retired_modules_;  // replaced by a swap
};

}  // namespace kasmina::morph
