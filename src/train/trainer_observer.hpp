// What a run tells the outside world while it runs: progress, epoch reports, growth events,
// telemetry, the event bus record and checkpoint points. The CLI, the telemetry writer and the
// checkpoint writer (src/io/) are observers; the trainer knows nothing of files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "control/event_bus.hpp"
#include "morph/morph_events.hpp"
#include "train/train_report.hpp"

namespace kasmina {

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
  // trainer.capture_state() and writes it (it may finish the write in the background).
  virtual bool wants_checkpoints() const { return false; }
  virtual void on_checkpoint(Trainer&) {}
  // The end of the run, before its time is taken (TrainSummary::train_seconds): an observer
  // that writes in the background finishes here, so the run's time includes its last write.
  virtual void on_run_end() {}
  // Polled once per step: finish the step, checkpoint and return (TrainSummary::interrupted).
  virtual bool stop_requested() const { return false; }
};

}  // namespace kasmina
