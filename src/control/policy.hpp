// The controller policy interface: an Observation in, commands out. The Observation carries
// the validation-loss history (the validation split is carved from the training set) and the
// layers' health; it has no field for test metrics, so no policy can use them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/controller_state.hpp"
#include "control/messages.hpp"
#include "morph/morph_config.hpp"
#include "morph/stage.hpp"

namespace kasmina::control {

// What the controller knows about one seed (stage/blueprint from the newest of its lifecycle
// events and health reports; statistics from the newest health report).
struct SeedObservation {
  morph::Stage stage = morph::Stage::dormant;
  int32_t blueprint = -1;
  float alpha = 0.0f;
  bool has_telemetry = false;
  morph::SeedTelemetry telemetry;  // valid when has_telemetry
};

struct LayerObservation {
  int32_t layer = 0;
  std::vector<morph::BlueprintKind> allowed;  // the layer's allowed blueprints, in order
  morph::BlueprintShape shape;                // for blueprint_param_count
  std::vector<SeedObservation> seeds;         // one per seed
};

// What the controller knows about one width-growing linear layer under the controller (linear
// grow_schedule: controller): its shape, its width steps, and its newest gradient score.
struct WidthObservation {
  int32_t layer = 0;  // config position
  int64_t width = 0;
  int64_t chunk = 0;  // units per width step
  int64_t active = 0;
  int64_t steps_done = 0;
  int64_t steps_total = 0;
  bool fresh = false;  // a report arrived since the last width step (or its command)
  WidthReport report;  // the newest (valid when fresh)
  bool can_grow() const { return steps_done < steps_total && active + chunk <= width; }
};

enum class Outcome : int32_t { fossilized, culled, rolled_back };

// A seed that reached an outcome since the previous decision.
struct SeedOutcome {
  int64_t step = 0;  // step of the lifecycle event
  int32_t layer = 0;
  int32_t seed = 0;
  morph::BlueprintKind blueprint = morph::BlueprintKind::residual_mlp;
  Outcome outcome = Outcome::culled;
  float eval_score = 0.0f;  // the seed's last evaluation score (0 when it had none)
};

struct Observation {
  int64_t step = 0;         // the training step the decision is for
  int64_t total_steps = 0;  // the run's training steps (0: unknown, no germination window)
  int64_t epoch = 0;
  std::vector<double> validation_losses;  // every measurement so far, oldest first
  int64_t new_validation = 0;             // how many of them arrived since the last decision
  std::vector<LayerObservation> layers;
  std::vector<WidthObservation> widths;  // width-growing layers under the controller
  std::vector<SeedOutcome> outcomes;     // since the last decision
  int32_t active_seeds = 0;              // GERMINATED/TRAINING/GRAFTING, all layers
  int64_t added_parameters = 0;          // blueprint parameters of seeds holding a blueprint
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual const char* name() const = 0;
  virtual std::vector<Command> decide(const Observation& obs) = 0;
  // Adds the policy's state to `out` / restores it (names are the policy's own).
  virtual void save(ControllerState& out) const { (void)out; }
  virtual void restore(const ControllerState& in) { (void)in; }
};

// The policy ControllerConfig::type names: none (never commands), schedule (the config's
// `schedule:` germinations at their steps), heuristic (see heuristic_policy.hpp).
// `layers` are the model's morphogenetic layers (allowed blueprints per layer).
std::unique_ptr<Policy> make_policy(const Config& cfg, const std::vector<LayerObservation>& layers);

}  // namespace kasmina::control
