// What a run reports: evaluation results, per-epoch and progress reports, per-step metrics, the
// growth of each morphogenetic layer and the summary of the whole run.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "morph/morph_events.hpp"

namespace kasmina {

struct EvalResult {
  double loss = 0.0;      // mean cross-entropy
  double accuracy = 0.0;  // fraction correct
  int64_t samples = 0;
};

// Which class the model predicts for each true class over an evaluation: counts[t * classes + p]
// samples of true class t predicted as p (the first maximal logit, as the accuracy counts it).
struct ConfusionMatrix {
  int64_t classes = 0;
  std::vector<int64_t> counts;
  int64_t at(int64_t truth, int64_t predicted) const {
    return counts[static_cast<size_t>(truth * classes + predicted)];
  }
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
  double train_flops = 0.0;    // analytic training FLOPs of every step taken (Trainer::train_flops)
  double train_seconds = 0.0;  // the training loop (per-epoch evaluation included)
  double eval_seconds = 0.0;
  // The training thread's time in the observer's checkpoint calls (capturing the state, waiting
  // for an earlier write) and its end-of-run wait for the last write; within train_seconds.
  double checkpoint_seconds = 0.0;
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
  double train_flops = 0.0;  // analytic training FLOPs so far (Trainer::train_flops)
};

}  // namespace kasmina
