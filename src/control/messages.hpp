// The typed messages of the event bus: per-layer health reports (from the layers' device
// telemetry), controller commands, lifecycle events, validation measurements and alerts. Each
// payload type belongs to exactly one topic (topic_of).
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "morph/morph_config.hpp"
#include "morph/morph_events.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::control {

enum class Topic : int32_t { telemetry = 0, commands = 1, lifecycle = 2, metrics = 3, alerts = 4 };
inline constexpr int32_t kTopicCount = 5;
const char* topic_name(Topic t);

// Health of one morphogenetic layer at a telemetry read: the per-seed statistics since the
// previous read (mean, variance, dead fraction, max |x|, gradient-norm EMA, stage, alpha, ...).
struct HealthReport {
  int32_t layer = 0;
  std::vector<morph::SeedTelemetry> seeds;
};

enum class CommandKind : int32_t { germinate, cancel, cull, rollback, set_eval_score, grow_width };
const char* command_kind_name(CommandKind k);

// A request for one seed of one layer; applied by the layer at its next step boundary.
// grow_width: the next width step of the width-growing linear layer at config position `layer`
// (`seed` unused), applied at once, before the step (control/width_adapter.hpp).
struct Command {
  CommandKind kind = CommandKind::germinate;
  int32_t layer = 0;
  int32_t seed = 0;
  morph::BlueprintKind blueprint = morph::BlueprintKind::residual_mlp;  // germinate only
  float value = 0.0f;                                                   // set_eval_score only
  std::string reason;  // why the controller asked (recorded with the message)
};

// The gradient score of a width-growing linear layer under the controller (nn/width_score.hpp),
// measured at the telemetry cadence: `layer` is its config position.
struct WidthReport {
  int32_t layer = 0;
  int64_t active = 0;       // active units
  int64_t width = 0;        // allocated units
  int64_t steps_done = 0;   // width steps so far
  int64_t steps_total = 0;  // grow_epochs
  double new_units = 0.0;   // mean outgoing-gradient norm the next group would get
  double active_units = 0.0;
  double ratio = 0.0;  // new_units / active_units
};

// A lifecycle transition (or refusal) drained from a layer, with the numbers behind it.
struct LifecycleEvent {
  morph::MorphEvent event{};
  std::string note;
};

// A validation-loss measurement (mean loss over `batches` validation batches). The validation
// split is carved from the training set; test metrics never travel on the bus.
struct ValidationMeasurement {
  int64_t epoch = 0;
  double loss = 0.0;
  int64_t batches = 0;
};

enum class AlertKind : int32_t { non_finite_loss, loss_spike, rollback, queue_refused };
const char* alert_kind_name(AlertKind k);

struct Alert {
  AlertKind kind = AlertKind::non_finite_loss;
  int32_t layer = -1;  // -1: not about one layer
  int32_t seed = -1;
  double value = 0.0;
  std::string detail;
};

// The kernel a morphogenetic layer obtained for one of its IR blueprints at prepare time
// (ops/morph/kernel_record.hpp): published once per (layer, blueprint) at the run's first step.
struct KernelEvent {
  int32_t layer = 0;
  std::string blueprint;
  int32_t chunk = 0;
  std::string key;    // kernel cache key, hex
  std::string level;  // memory, disk, compiled, interpreter, refused, cpu-interpreter
  double ms = 0.0;
  double tune_ms = -1.0;  // >= 0: tuned now
  std::string launch;     // the launch configuration (the tuning winner when tuned)
  std::string detail;     // why it fell back or was refused
};

using Payload = std::variant<HealthReport, Command, LifecycleEvent, ValidationMeasurement, Alert,
                             WidthReport, KernelEvent>;

Topic topic_of(const Payload& p);
// Short name of the payload's type: "health", "germinate", "event", "validation", "alert:nan",
// "kernel".
std::string payload_kind(const Payload& p);
// One line of text with every field of the payload (what the recorder stores).
std::string payload_text(const Payload& p);

struct Message {
  int64_t step = 0;       // training step at which it was published
  uint64_t sequence = 0;  // global publish order (assigned by the bus)
  Topic topic = Topic::telemetry;
  Payload payload;
};

}  // namespace kasmina::control
