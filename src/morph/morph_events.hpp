// Lifecycle events (device ring, drained by the host) and host commands (queued, uploaded at
// step boundaries). Both are plain structs with a fixed layout shared by host and device.
#pragma once
#include <cstdint>

namespace kasmina::morph {

// Why a transition happened or was refused. Codes >= kReasonRefusedFirst are refusals: the
// request was logged and not applied (the event's `to` is the stage that was asked for).
enum class Reason : int32_t {
  command = 0,             // a host command (germinate, cancel, cull, rollback, transition)
  training_slot = 1,       // GERMINATED -> TRAINING: a training slot was free
  loss_gate = 2,           // TRAINING -> GRAFTING: isolated-loss EMA under threshold (value)
  training_timeout = 3,    // TRAINING -> CULLED: loss still above threshold (value = EMA)
  alpha_complete = 4,      // GRAFTING -> STABILIZATION: alpha reached 1
  stabilized = 5,          // STABILIZATION -> EVALUATING: minimum steps done
  improved = 6,            // EVALUATING -> FINE_TUNING: score (value) > 0
  not_improved = 7,        // EVALUATING -> CULLED: score (value) <= 0
  evaluation_timeout = 8,  // EVALUATING -> CULLED: no score within max_evaluating_steps
  fine_tuned = 9,          // FINE_TUNING -> FOSSILIZED
  released = 10,           // CULLED / CANCELLED / ROLLED_BACK -> DORMANT (slot freed)
  non_finite = 11,         // emergency exit after too many non-finite losses / gradients
  score_set = 12,          // evaluation score recorded (from == to; value = score)
  improvement_set = 13,    // held-out improvement recorded (from == to; value)
  loss_alarm = 14,         // -> ROLLED_BACK: loss guard flag (value 1 NaN/Inf, 2 spike)
  width_grown = 15,  // a width step of a linear layer under the controller (layer = its config
                     // position, seed = the step's index, DORMANT -> FOSSILIZED, value = ratio)
  refused_illegal = 100,         // pair not in the transition table
  refused_min_steps = 101,       // minimum steps in the current stage not reached (value)
  refused_gate = 102,            // the gate of the transition is closed (value = gate input)
  refused_pool_exhausted = 103,  // no free blueprint slot (value = pool slots)
  refused_blueprint = 104,       // blueprint not allowed in this layer (value = id)
  refused_bad_seed = 105,        // seed index out of range (value = index)
  refused_bad_command = 106,     // unknown command type
};
inline constexpr int32_t kReasonRefusedFirst = 100;
const char* reason_name(Reason r);
inline bool reason_is_refusal(Reason r) {
  return static_cast<int32_t>(r) >= kReasonRefusedFirst;
}

struct MorphEvent {
  int64_t step;       // value of StepContext::step when the boundary ran
  int32_t layer;      // layer index
  int32_t seed;       // seed index in the layer
  int32_t from;       // Stage
  int32_t to;         // Stage (requested stage for refusals)
  int32_t blueprint;  // BlueprintKind of the seed (or requested), -1 when none
  int32_t reason;     // Reason
  float value;        // a number explaining the reason (loss, alpha, score, ...)
  int32_t pad;
};
static_assert(sizeof(MorphEvent) == 40, "MorphEvent layout");

// Header of the device event ring: `head` counts all events ever written; event i lives at
// ring[i % capacity].
struct EventRingHeader {
  int64_t head;
  int64_t pad;
};

enum class CommandType : int32_t {
  germinate = 0,        // arg = BlueprintKind
  transition = 1,       // arg = target Stage (cancel / cull / rollback are transitions)
  set_eval_score = 2,   // value = score (improvement of held-out loss; > 0 is better)
  set_improvement = 3,  // value = held-out loss improvement (performance_linked grafting)
};

struct MorphCommand {
  int32_t type;  // CommandType
  int32_t seed;
  int32_t arg;
  float value;
};
static_assert(sizeof(MorphCommand) == 16, "MorphCommand layout");

// Header of the device command buffer: `count` commands follow; the lifecycle step consumes
// them and resets count to 0 on the device.
struct CommandBufferHeader {
  int32_t count;
  int32_t pad[3];
};

}  // namespace kasmina::morph
