// TelemetryWriter: appends a run's telemetry to RUN_DIR/telemetry.h5 (layout: docs/FORMATS.md).
//
// Every append takes host data and only copies it into a buffer; the buffers go to the HDF5 file
// when a chunk is full or on flush(). The HDF5 file lives in memory (memory_file.hpp); flush()
// stores all of it at `path` atomically (a temporary file, fsync, rename), so the file under
// `path` is always complete: a run that crashes, is killed or runs out of disk space leaves a
// readable file holding everything appended up to its last successful flush. Nothing is
// written to `path` before the first flush(). A store that fails throws IoError naming the file
// and leaves the previous file in place. Not thread-safe: one writer thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/telemetry_records.hpp"

namespace kasmina::io {

class TelemetryWriter {
 public:
  // A new telemetry file for `path` with its root attributes (in memory until the first flush).
  TelemetryWriter(const std::string& path, const TelemetryRunInfo& info);
  // Flushes and closes; errors at this point are reported on stderr (not while an exception
  // unwinds), never thrown.
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

  // Writes every buffered row and stores the whole file at `path` (atomic replace).
  void flush();
  // Writes every buffered row and returns the whole file's bytes, for the caller to store at
  // path() (write_file_atomically; `kasmina train` does it on its background writer).
  std::vector<unsigned char> flush_image();
  // Flushes and closes; further appends are internal errors.
  void close();
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kasmina::io
