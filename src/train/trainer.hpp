// The training loop: the whole dataset resident on the training device, batches gathered on
// the device from a device-side permutation, the step (gather, forward, loss, backward,
// optimizer) captured once in a CUDA graph and replayed. The host reads device values only at
// epoch ends and, when a progress display wants it, every `train.log_every_steps` steps.
//
// The loop only sequences work; the concerns it sequences live beside it: the data order
// (train/data_order.hpp), evaluation (train/evaluator.hpp), the loss guard
// (train/loss_guard.hpp), growth control (train/growth.hpp), the reports
// (train/train_report.hpp) and the observer (train/trainer_observer.hpp). Each stateful
// component saves and restores its own checkpoint section (core/stateful.hpp);
// train/trainer_state.cpp gathers them into a RunState.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/event_bus.hpp"
#include "core/run_state.hpp"
#include "core/stateful.hpp"
#include "data/dataset.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"
#include "ops/collective/communicator.hpp"
#include "ops/ops.hpp"
#include "train/precision.hpp"
#include "train/train_report.hpp"
#include "train/trainer_observer.hpp"

namespace kasmina {

struct DeviceData;
class DataOrder;
class Evaluator;
class LossGuard;
class Growth;
class DataParallel;
class FusedMlpStep;

class Trainer {
 public:
  // Builds the model on `dev` and uploads the data. UserError for impossible settings (e.g. a
  // batch larger than the training set).
  Trainer(const Config& cfg, const DataSplits& data, Device dev);
  ~Trainer();

  TrainSummary run(TrainerObserver& observer);
  Model& model() { return *model_; }
  // Whether the training step is the fused MLP kernel (train/fused_mlp_step.hpp).
  bool fused_step() const { return fused_ != nullptr; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Evaluates the model on one split held on the device (the first `max_batches` eval batches
  // when max_batches > 0), counting predictions into `confusion` when given.
  EvalResult evaluate(const std::string& split, int64_t max_batches = 0,
                      ConfusionMatrix* confusion = nullptr);
  // Every message delivered on the event bus since the last call (the run's record).
  std::vector<control::MessageRecord> take_bus_log();

  // The state at the current step boundary (host copies; synchronous). Only between steps.
  RunState capture_state();
  // Continue from `state` at the next run() (call before run()). UserError when the state does
  // not fit this model (tensor missing or of another shape).
  void restore_state(const RunState& state);
  int64_t global_step() const { return global_step_; }
  DataParallel& data_parallel() { return *dp_; }
  // Analytic training FLOPs of every step taken (forward, backward, optimizer): the host
  // network's per-step formula (Model::train_flops_per_step) times the steps, plus what the
  // kasmina layers count for their seeds by stage (exact once their events are drained: after
  // a growth report). A function of the run state, so a resumed run continues it exactly. In a
  // data-parallel run every rank does the same work on its share of the global batch, so the
  // run's FLOPs are the world size times this rank's.
  double train_flops() const {
    const double ranks = batch_ > 0 ? static_cast<double>(global_batch_ / batch_) : 1.0;
    return ranks * (static_flops_per_step_ * static_cast<double>(global_step_) +
                    model_->counted_train_flops(global_step_));
  }

  // One training step exactly as run() performs it (used by tests comparing devices).
  void train_step();
  Tensor augmented_batch();  // the gathered batch, augmented when data.augment asks
  // Prepares the epoch `epoch` (0-based): uploads its permutation, resets the cursor and the
  // loss accumulators.
  void begin_epoch(int64_t epoch);

 private:
  // One training step through the graph cache (CUDA) or plainly, then the step boundary.
  void run_step(TrainerObserver& obs, TrainSummary& sum);
  // The step itself through the graph cache (CUDA graphs) or as plain launches.
  void launch_step(TrainerObserver& obs, TrainSummary& sum);
  // The epoch's report: training loss and accuracy, validation and test evaluation.
  EpochReport finish_epoch(int64_t epoch, int64_t first, double step_seconds, TrainSummary& sum);
  // Brings host bookkeeping to a clean point (bus delivered, growth reported) and calls the
  // observer's on_checkpoint.
  void checkpoint_now(TrainerObserver& obs, TrainSummary& sum);
  void hand_over_bus_log(TrainerObserver& obs);
  // The loop's own checkpoint entries (train/trainer_state.cpp): the device step counter, the
  // epoch's loss accumulators, the flagged-step count and the epoch reports.
  void save_loop_state(StateWriter& out) const;
  void load_loop_state(const StateReader& in);

  Config cfg_;
  Device dev_;
  // train.precision as the device's math mode while the trainer lives (declared before the
  // model and the data so that it is put back after they are gone, and when the constructor
  // throws).
  std::optional<MathModeScope> math_;
  std::unique_ptr<DeviceData> data_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Optimizer> optimizer_;
  // The processes of the run (train/data_parallel.hpp): the flat gradient buffer is averaged
  // over them once per step; with one process every reduction is a no-op.
  std::unique_ptr<DataParallel> dp_;
  StepContext ctx_;
  Tensor counters_;  // i64[2]: ctx_.step and the data order's cursor are views of it
  std::unique_ptr<DataOrder> order_;
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<LossGuard> guard_;
  std::unique_ptr<Growth> growth_;
  // The fused MLP step (train/fused_mlp_step.hpp) when the model qualifies; on CUDA otherwise
  // why not, said once at the start of run() (on the CPU the layered step is the chosen one).
  std::unique_ptr<FusedMlpStep> fused_;
  std::string layered_why_;

  std::map<uint64_t, std::unique_ptr<ops::StepGraph>> graphs_;  // by Model::train_step_key()
  std::map<uint64_t, int64_t> key_steps_;                       // plain steps run per key
  int64_t epoch_ = 0;
  int64_t global_step_ = 0;
  int64_t epoch_step_ = 0;  // steps of epoch_ taken
  int64_t flagged_steps_ = 0;
  std::vector<EpochReport> epoch_reports_;
  bool resumed_ = false;  // restore_state was called: run() continues at epoch_, epoch_step_
  int64_t resumed_from_ = -1;
  int64_t batch_ = 0, steps_per_epoch_ = 0;
  int64_t global_batch_ = 0;  // world_size x batch_: the samples of one step over all ranks
  double static_flops_per_step_ = 0.0;
  Tensor x_, y_, dlogits_, loss_sum_, correct_;
  // data.augment: the augmented batch the model reads (undefined without augmentation).
  Tensor x_aug_;
  uint64_t augment_seed_ = 0;
};

}  // namespace kasmina
