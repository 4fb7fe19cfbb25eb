// Reading a telemetry file back (for `kasmina inspect telemetry`, tests and tools).
//
// Each dataset is read up to its `checksum_rows` attribute (what the writer had completely
// written at its last flush) and, with verify, checked against its `checksum`. The columns of a
// table are cut to their common length. A user-given file that is not a valid telemetry file
// gives a UserError (see file_format.hpp for the messages).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/telemetry_records.hpp"

namespace kasmina::io {

struct SeedLayerTelemetry {
  std::string name;
  int64_t num_seeds = 0;
  std::vector<std::string> fields;  // K names
  std::vector<int64_t> steps;       // T
  std::vector<float> stats;         // T * num_seeds * K (empty unless read with seed_stats)
};

struct TelemetryData {
  int64_t schema_version = 0;
  std::string kasmina_version;
  std::string config_yaml;
  std::string config_name;
  std::string device;
  std::string start_time;
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
  std::vector<SeedLayerTelemetry> seed_layers;  // in name order
  std::vector<LifecycleEvent> events;
  std::vector<BusMessageRecord> messages;
};

struct TelemetryReadOptions {
  bool verify = true;      // check every checksum
  bool seed_stats = true;  // load /seeds/<layer>/stats (can be large)
};

TelemetryData read_telemetry(const std::string& path, const TelemetryReadOptions& options = {});

}  // namespace kasmina::io
