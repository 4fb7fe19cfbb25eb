// The training loop: the whole dataset resident on the training device, batches gathered on
// the device from a device-side permutation, the step (gather, forward, loss, backward,
// optimizer) captured once in a CUDA graph and replayed. The host reads device values only at
// epoch ends and, when a progress display wants it, every `train.log_every_steps` steps.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <map>

#include "config/config.hpp"
#include "control/event_bus.hpp"
#include "data/dataset.hpp"
#include "morph/morph_events.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"
#include "train/run_state.hpp"
#include "ops/guard/loss_guard.hpp"
#include "ops/ops.hpp"

namespace kasmina {

struct EvalResult {
  double loss = 0.0;      // mean cross-entropy
  double accuracy = 0.0;  // fraction correct
  int64_t samples = 0;
};

struct EpochReport {
  int64_t epoch = 0;  // 1-based
  int64_t epochs = 0;
  double train_loss = 0.0, train_accuracy = 0.0;
  std::optional<EvalResult> validation;
  EvalResult test;
  double seconds = 0.0;             // whole epoch, evaluation included
  double step_seconds = 0.0;        // training steps only
  double samples_per_second = 0.0;  // training samples / step_seconds
};

struct ProgressReport {
  int64_t epoch = 0, epochs = 0;          // 1-based epoch
  int64_t step = 0, steps_per_epoch = 0;  // steps done in this epoch
  double loss = 0.0;                      // mean training loss so far in this epoch
  double samples_per_second = 0.0;
  double eta_seconds = 0.0;  // whole run
};

// Growth of one morphogenetic layer over the run.
struct LayerGrowth {
  int32_t layer = 0;
  int32_t seeds = 0;
  std::vector<int64_t> stage_counts;  // seeds per lifecycle stage at the end (11 entries)
  int64_t parameters_added = 0;       // blueprint parameters held by non-dormant seeds at the end
  int64_t germinated = 0, fossilized = 0, culled = 0, rolled_back = 0, refused = 0;
};

struct TrainSummary {
  std::string device;       // "cpu", "cuda:0"
  std::string device_name;  // e.g. the GPU name
  int64_t epochs = 0, steps = 0, parameters = 0;
  double train_seconds = 0.0;  // the training loop (per-epoch evaluation included)
  double eval_seconds = 0.0;
  double samples_per_second = 0.0;  // training samples / time spent in training steps
  EvalResult test;
  std::optional<EvalResult> validation;
  double final_train_loss = 0.0;
  bool graph_captured = false;
  std::string graph_note;  // why steps were not captured, when they were not
  std::vector<EpochReport> epoch_reports;
  std::vector<LayerGrowth> growth;               // one entry per kasmina layer
  std::vector<morph::MorphEvent> growth_events;  // every lifecycle event of the run, in order
  int64_t graphs_captured = 0;     // distinct step graphs (one per host-side step key)
  int64_t flagged_steps = 0;       // steps the loss guard rejected (NaN/Inf or spike)
  bool interrupted = false;        // stopped on request before the last epoch ended
  int64_t resumed_from_step = -1;  // the checkpoint step the run continued from (-1: none)
};

// Per-step metrics at the telemetry cadence (the same host read as the progress display).
struct StepMetrics {
  int64_t step = 0;   // optimizer steps taken (global)
  int64_t epoch = 0;  // 1-based
  double loss = 0.0;  // mean training loss so far in this epoch
  double lr = 0.0;    // learning rate of the last step
  double samples_per_second = 0.0;
};

class Trainer;
namespace morph {
class KasminaLayer;
}

class TrainerObserver {
 public:
  virtual ~TrainerObserver() = default;
  virtual bool wants_progress() const { return false; }
  virtual void on_progress(const ProgressReport&) {}
  virtual void on_epoch(const EpochReport&) {}
  virtual void on_message(const std::string&) {}
  // A lifecycle event of a morphogenetic layer (with the numbers of the decision in `note`).
  virtual void on_growth_event(const std::string& line) { on_message(line); }

  // Telemetry. Steps between on_step_metrics calls (0: none); called after the step whose
  // global count is a multiple of it.
  virtual int64_t metrics_every() const { return 0; }
  virtual void on_step_metrics(const StepMetrics&) {}
  // A morphogenetic layer read its telemetry at this boundary (layer.last_telemetry()).
  virtual void on_seed_telemetry(int32_t layer_index, const morph::KasminaLayer&, int64_t step) {}
  // Every lifecycle event (also refusals), with the numbers of the decision in `note`.
  virtual void on_lifecycle_event(const morph::MorphEvent&, const std::string& note) {}
  // When true the trainer hands the recorded bus messages over at epoch ends and checkpoints.
  virtual bool wants_bus_log() const { return false; }
  virtual void on_bus_messages(std::vector<control::MessageRecord>) {}
  // Epoch end or checkpoint: a point where buffered telemetry should reach the disk.
  virtual void on_flush_point() {}

  // Checkpoints. When wants_checkpoints(), the trainer calls on_checkpoint at the cadences of
  // the `checkpoint` config section (and before stopping); the observer reads
  // trainer.capture_state() and writes it.
  virtual bool wants_checkpoints() const { return false; }
  virtual void on_checkpoint(Trainer&) {}
  // Polled once per step: finish the step, checkpoint and return (TrainSummary::interrupted).
  virtual bool stop_requested() const { return false; }
};

namespace control {
class GrowthDriver;
class EventBus;
class LayerAdapter;
class Controller;
class GuardMonitor;
struct GrowthEvent;
struct MessageRecord;
}  // namespace control

class Trainer {
 public:
  // Builds the model on `dev` and uploads the data. UserError for impossible settings (e.g. a
  // batch larger than the training set).
  Trainer(const Config& cfg, const DataSplits& data, Device dev);
  ~Trainer();

  TrainSummary run(TrainerObserver& observer);
  Model& model() { return *model_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Evaluates the model on one split held on the device (the first `max_batches` eval batches
  // when max_batches > 0).
  EvalResult evaluate(const std::string& split, int64_t max_batches = 0);
  // Every message delivered on the event bus since the last call (the run's record).
  std::vector<control::MessageRecord> take_bus_log();

  // The state at the current step boundary (host copies; synchronous). Only between steps.
  RunState capture_state();
  // Continue from `state` at the next run() (call before run()). UserError when the state does
  // not fit this model (tensor missing or of another shape).
  void restore_state(const RunState& state);
  int64_t global_step() const { return global_step_; }

  // One training step exactly as run() performs it (used by tests comparing devices).
  void train_step();
  // Prepares the epoch `epoch` (0-based): uploads its permutation, resets the cursor and the
  // loss accumulators.
  void begin_epoch(int64_t epoch);

 private:
  struct DeviceSplit {
    Tensor images, labels, identity_perm;
    float scale = 1.0f, shift = 0.0f;
    int64_t size = 0;
  };
  DeviceSplit upload(const Dataset& d);
  // One training step through the graph cache (CUDA) or plainly, then the step boundary.
  void run_step(TrainerObserver& obs, TrainSummary& sum);
  void report_growth(TrainerObserver& obs, TrainSummary& sum);
  std::vector<LayerGrowth> growth_summary() const;
  void measure_validation_for_controller();
  // Brings host bookkeeping to a clean point (bus delivered, growth reported) and calls the
  // observer's on_checkpoint.
  void checkpoint_now(TrainerObserver& obs, TrainSummary& sum);
  void apply_restore();
  void hand_over_bus_log(TrainerObserver& obs);

  Config cfg_;
  Device dev_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<control::GrowthDriver> growth_;
  // Growth control: the layers and the controller talk only through the bus.
  std::unique_ptr<control::EventBus> bus_;
  std::unique_ptr<control::LayerAdapter> adapter_;
  std::unique_ptr<control::Controller> controller_;
  std::unique_ptr<control::GuardMonitor> guard_monitor_;
  bool guarded_ = false;  // the run has a loss guard (morphogenetic layers or the NaN hook)
  // The guard is in the step while a seed may be active (or the NaN hook is set): with every
  // seed dormant the network is the plain one and there is nothing to roll back.
  bool guard_on_ = false;
  void update_guard();
  ops::LossGuardState guard_;
  ops::LossGuardParams guard_params_;
  std::vector<control::GrowthEvent> pending_events_;
  int64_t epoch_ = 0;
  std::map<uint64_t, std::unique_ptr<ops::StepGraph>> graphs_;  // by Model::train_step_key()
  std::map<uint64_t, int64_t> key_steps_;                       // plain steps run per key
  int64_t global_step_ = 0;
  int64_t epoch_step_ = 0;  // steps of epoch_ taken
  int64_t flagged_steps_ = 0;
  std::vector<EpochReport> epoch_reports_;
  std::unique_ptr<RunState> pending_restore_;
  int64_t resumed_from_ = -1;
  std::map<std::pair<int32_t, int32_t>, int64_t> transition_counts_;  // (layer, to stage)
  std::map<int32_t, int64_t> refusal_counts_;                         // by layer
  DeviceSplit train_, validation_, test_;
  int64_t batch_ = 0, eval_batch_ = 0, steps_per_epoch_ = 0;
  StepContext ctx_;
  Tensor counters_;  // i64[2]: ctx_.step and cursor_ are views of it
  Tensor cursor_, zero_cursor_, perm_, perm_host_;
  Tensor x_, y_, dlogits_, loss_sum_, correct_;
  Tensor eval_x_, eval_y_, eval_loss_sum_, eval_correct_;
};

}  // namespace kasmina
