// The rows of a telemetry file, as host structs. The trainer fills them at its own cadence
// (after copying any device data to the host) and hands them to TelemetryWriter.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace kasmina::io {

inline constexpr double kAbsent = std::numeric_limits<double>::quiet_NaN();

// One optimisation step: /steps.
struct StepRecord {
  int64_t step = 0;
  int64_t epoch = 0;
  double loss = kAbsent;
  double lr = kAbsent;
  double samples_per_second = kAbsent;
  double train_flops = kAbsent;  // analytic training FLOPs of the run up to this step
};

// One finished epoch: /epochs. NaN where a metric was not measured (e.g. no validation set).
struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = kAbsent;
  double train_accuracy = kAbsent;
  double validation_loss = kAbsent;
  double validation_accuracy = kAbsent;
  double test_loss = kAbsent;
  double test_accuracy = kAbsent;
  double seconds = kAbsent;
};

// One lifecycle transition of one seed (or a refused one: from == to, reason says why): /events.
struct LifecycleEvent {
  int64_t step = 0;
  std::string layer;
  int64_t seed = 0;
  int32_t from = 0;  // stage codes, see seed_stage_names.hpp
  int32_t to = 0;
  std::string blueprint;  // blueprint name ("" when none)
  std::string reason;
  double value = kAbsent;  // the measurement behind the decision (gate value, improvement, ...)
};

// One message recorded from the event bus: /messages.
struct BusMessageRecord {
  int64_t step = 0;
  std::string topic;
  std::string kind;
  std::string payload;  // the message rendered as text
};

// Root attributes of a telemetry file.
struct TelemetryRunInfo {
  std::string config_yaml;  // the resolved configuration
  std::string config_name;
  std::string device;      // e.g. "cpu", "cuda:0 (NVIDIA H100 80GB HBM3)"
  std::string start_time;  // ISO 8601 UTC; empty = now
};

}  // namespace kasmina::io
