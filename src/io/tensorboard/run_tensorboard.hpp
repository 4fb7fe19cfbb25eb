// RunTensorBoard: what the trainer reports, as TensorBoard summaries in RUN_DIR/tensorboard/
// (tags: docs/FORMATS.md). The same host data and cadences as RunTelemetry (telemetry.h5); all
// steps are optimizer steps taken. Records reach the event file at flush(), the points where
// telemetry.h5 is flushed.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/tensorboard/writer.hpp"
#include "morph/morph_events.hpp"
#include "train/train_report.hpp"

namespace kasmina::morph {
class KasminaLayer;
}

namespace kasmina::io {

class RunTensorBoard {
 public:
  // A fresh run (`resume_step` -1): a new event file in `dir` (SessionLog START at step 0) with
  // the resolved configuration as the text "config" at step 0. A run resumed from a checkpoint
  // at `resume_step`: a new event file that restarts the curves after it (SessionLog START at
  // resume_step + 1, the configuration at that step) and holds only records of later steps.
  RunTensorBoard(const std::filesystem::path& dir, const std::string& config_yaml,
                 int64_t resume_step);

  void step(const StepMetrics& m);
  // A finished epoch; `step`: the optimizer steps taken at its end.
  void epoch(const EpochReport& r, int64_t step);
  void seed_stats(int32_t layer_index, const morph::KasminaLayer& layer, int64_t step);
  // Kept until flush(), which writes the events of one layer and one step as one text.
  void event(const morph::MorphEvent& e, const std::string& note);
  void flush();
  const std::string& path() const { return writer_.path(); }

 private:
  bool due(int64_t step) const { return step > resume_step_; }

  tb::TensorBoardWriter writer_;
  int64_t resume_step_;
  // Rows of the event texts not yet written, by (layer index, step).
  std::map<std::pair<int32_t, int64_t>, std::vector<std::string>> pending_events_;
  std::vector<double> scratch_;
};

}  // namespace kasmina::io
