// The growth control of a run: owns the event bus, the layer adapter, the controller, the guard
// monitor and the growth driver, and sequences them around each training step. The layers and
// the controller talk only through the bus. Produces the run's growth events (to the observer
// and the summary) and the per-layer growth summary.
//
// Checkpoint entries: the controller's section "controller/..." and the counts of transitions
// and refusals reported so far, "trainer/transitions/<layer>/<stage>" and
// "trainer/refusals/<layer>".
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "control/event_bus.hpp"
#include "control/growth_driver.hpp"
#include "core/stateful.hpp"
#include "nn/model.hpp"
#include "train/evaluator.hpp"
#include "train/loss_guard.hpp"
#include "train/train_report.hpp"
#include "train/trainer_observer.hpp"

namespace kasmina {

namespace control {
class LayerAdapter;
class Controller;
class GuardMonitor;
class WidthAdapter;
}  // namespace control

class Growth final : public Stateful {
 public:
  // `model`, `eval` and `guard` must outlive the growth object. When the guard is present the
  // layers roll their seeds back on its device flag and a monitor brings its verdicts onto the
  // bus.
  // `total_steps`: the run's training steps (the controller's germination window). With the
  // heuristic controller choosing seeds by gradient, the layers measure their gradient score.
  Growth(const Config& cfg, Model& model, Evaluator& eval, const LossGuard& guard,
         int64_t total_steps);
  ~Growth() override;

  // Before training step `step` of `epoch` (0-based): the validation measurement at the
  // heuristic controller's cadence, then delivery and the controller's decision (its commands
  // reach the layers through the bus; the adapter queues them for the next step boundary).
  void before_step(int64_t step, int64_t epoch);
  // After the step boundary of every layer (model.end_step): collects the layers' events,
  // tells the observer of fresh seed telemetry, publishes telemetry and events, and polls the
  // loss guard at the telemetry cadence.
  void after_step(int64_t step, TrainerObserver& obs);
  // Drains every layer now (synchronous): the end of an epoch or of the run.
  void flush();
  // Delivers what is queued on the bus (before a checkpoint: nothing is left queued).
  void deliver();
  // Hands the events collected so far to the observer and the summary, counting transitions.
  void report(TrainerObserver& obs, TrainSummary& sum);
  // Every message delivered on the bus since the last call.
  std::vector<control::MessageRecord> take_bus_log();
  // Per-layer growth at this point (reads the seed state; synchronous).
  std::vector<LayerGrowth> summary() const;

  void save_state(StateWriter& out) const override;
  // After the loss guard's load_state: the guard monitor catches up with the restored flagged
  // count (its alerts reach the controller, whose state is restored right after; the catch-up
  // is not part of the run's bus record).
  void load_state(const StateReader& in) override;

 private:
  const Config& cfg_;
  Model& model_;
  Evaluator& eval_;
  std::unique_ptr<control::GrowthDriver> driver_;
  std::unique_ptr<control::EventBus> bus_;
  std::unique_ptr<control::LayerAdapter> adapter_;
  std::unique_ptr<control::Controller> controller_;
  std::unique_ptr<control::GuardMonitor> guard_monitor_;
  std::unique_ptr<control::WidthAdapter> width_adapter_;  // width layers under the controller
  std::vector<control::GrowthEvent> pending_events_;      // published, not yet reported
  std::map<std::pair<int32_t, int32_t>, int64_t> transition_counts_;  // (layer, to stage)
  std::map<int32_t, int64_t> refusal_counts_;
  std::vector<size_t> kernels_published_;  // kernel records published, by layer
};

}  // namespace kasmina
