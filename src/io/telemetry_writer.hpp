// TelemetryWriter: appends a run's telemetry to RUN_DIR/telemetry.h5 (layout: docs/FORMATS.md).
//
// Every append takes host data and only copies it into a buffer; the buffers go to the file
// when a chunk is full or on flush(). flush() also flushes the HDF5 file (H5Fflush), so a run
// that crashes or is killed afterwards leaves a readable file holding everything appended up to
// that flush. Failures throw InternalError (Hdf5Error). Not thread-safe: one writer thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/telemetry_records.hpp"

namespace kasmina::io {

class TelemetryWriter {
 public:
  // Creates (truncates) `path` and writes the root attributes.
  TelemetryWriter(const std::string& path, const TelemetryRunInfo& info);
  // Flushes and closes; errors at this point are reported on stderr, never thrown.
  ~TelemetryWriter();
  TelemetryWriter(const TelemetryWriter&) = delete;
  TelemetryWriter& operator=(const TelemetryWriter&) = delete;

  void append_step(const StepRecord& r);
  void append_epoch(const EpochRecord& r);

  // Declares a morphogenetic layer with `num_seeds` seeds and per-seed statistics named
  // `fields` (K = fields.size()). The name must be a plain HDF5 link name (no '/').
  void add_seed_layer(const std::string& layer, int64_t num_seeds,
                      const std::vector<std::string>& fields);
  // Appends one snapshot of a declared layer's statistics: `stats` holds num_seeds * K floats,
  // seed-major ([S, K] row-major).
  void append_seed_stats(const std::string& layer, int64_t step, const float* stats);

  void append_event(const LifecycleEvent& e);
  void append_message(const BusMessageRecord& m);

  // Writes every buffered row and flushes the file to disk.
  void flush();
  // Flushes and closes; further appends are internal errors.
  void close();
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kasmina::io
