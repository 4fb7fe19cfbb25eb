// RunTelemetry: what the trainer reports (step metrics, epoch reports, per-seed statistics,
// lifecycle events, bus messages) as rows of RUN_DIR/telemetry.h5 (docs/FORMATS.md). All input
// is host data the trainer already read at its cadences; nothing here touches the device.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/event_bus.hpp"
#include "io/telemetry_records.hpp"
#include "io/telemetry_writer.hpp"
#include "morph/morph_events.hpp"
#include "train/trainer.hpp"

namespace kasmina::io {

// The per-seed statistics stored for every telemetry read of a kasmina layer (K fields).
const std::vector<std::string>& seed_stat_fields();

// "kasmina<k>": the name of the k-th morphogenetic layer in files.
std::string morph_layer_name(int32_t layer_index);

// A lifecycle event as the files record it: layer and blueprint by name, the reason's name
// followed by the decision's numbers (`note`).
LifecycleEvent lifecycle_record(const morph::MorphEvent& e, const std::string& note);

class RunTelemetry {
 public:
  // A new file at `path` (replacing any file there), stored at once with no rows.
  RunTelemetry(const std::string& path, const TelemetryRunInfo& info,
               const std::vector<morph::KasminaLayer*>& layers);
  // Continuing a run from a checkpoint at `step` (`epochs_done` epochs finished): the rows of
  // the existing file up to that point are kept (rows written after it by the interrupted run
  // are dropped, the resumed run writes them again), the rest is appended. The file is
  // replaced in one piece (TelemetryWriter::flush). An unreadable file is renamed to
  // PATH.unreadable (with a warning) and a new one started. Lifecycle events of steps up to the
  // checkpoint that the resumed run drains again (they were still in the device's event ring
  // at the checkpoint) are not appended: the interrupted run recorded them.
  static std::unique_ptr<RunTelemetry> resume(const std::string& path, const TelemetryRunInfo& info,
                                              const std::vector<morph::KasminaLayer*>& layers,
                                              int64_t step, int64_t epochs_done);

  void step(const StepMetrics& m);
  void epoch(const EpochReport& r);
  void seed_stats(int32_t layer_index, const morph::KasminaLayer& layer, int64_t step);
  void event(const morph::MorphEvent& e, const std::string& note);
  void messages(const std::vector<control::MessageRecord>& log);
  void flush();
  // The file's bytes with every row appended so far, to be stored at path() (TelemetryWriter).
  std::vector<unsigned char> flush_image() { return writer_->flush_image(); }
  const std::string& path() const { return writer_->path(); }
  TelemetryWriter& writer() { return *writer_; }

 private:
  RunTelemetry() = default;
  void declare_layers(const std::vector<morph::KasminaLayer*>& layers);
  std::unique_ptr<TelemetryWriter> writer_;
  std::vector<float> scratch_;
  int64_t resume_step_ = -1;  // the checkpoint's step when resumed
};

}  // namespace kasmina::io
