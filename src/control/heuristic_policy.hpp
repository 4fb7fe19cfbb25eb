// The heuristic growth policy (ControllerConfig::type = heuristic).
//
// When: only inside the germination window (the first `germination_window` of the run's
// steps; Observation::total_steps, no window when unknown), on either trigger:
//  - plateau: each new validation measurement lower than the best so far by more than
//    min_delta becomes the best and resets the counter; any other one counts. After `patience`
//    counted measurements the loss has plateaued: one seed germinates (budgets permitting) and
//    the counter restarts, so the next plateau needs another `patience` measurements;
//  - gradient (seed_choice gradient, grad_trigger_ratio > 0): the best dormant chunk's gradient
//    score is at least grad_trigger_ratio times its layer's mean chunk score (the gradient a
//    new unit there would get, relative to the layer's existing units), checked at every
//    decision, so growth proceeds early, as fast as max_active and the budget allow.
// Which seed (ties to the lower layer then seed; seeds without telemetry and seeds under
// embargo, until the step of their CULLED / ROLLED_BACK event + embargo_steps, are skipped):
//  - seed_choice gradient (default): the dormant seed with the highest gradient ratio, its
//    chunk's gradient score (SeedTelemetry::grad_score, nn/gradient_score.hpp) over the mean
//    score of its layer's chunks; seeds whose score was not measured are skipped;
//  - seed_choice health: the highest capacity_need (health_score.hpp).
// Which blueprint: the layer's UCB1 bandit (blueprint_bandit.hpp) over the allowed blueprints
// that fit the parameter budget. Rewards: FOSSILIZED = score / (score + min_delta) with the
// seed's evaluation score (improvement of validation loss; 0.5 at an improvement of min_delta),
// CULLED or ROLLED_BACK = 0.
// Budgets: no germination while active_seeds >= max_active, or when added_parameters plus the
// blueprint's parameter count would exceed max_added_parameters.
// Width steps (linear layers with grow_schedule: controller, Observation::widths), inside the
// same window and on the same triggers, one step per decision: a plateau that germinated no
// seed grows the first layer (model order) with units left; the gradient trigger grows the
// layer with the highest fresh ratio (nn/width_score.hpp: the outgoing-gradient norm the next
// group would get over the active units') when it is at least grad_trigger_ratio. A report is
// consumed by the step it causes, so each step needs a new measurement. Width units are not
// counted in max_added_parameters or max_active (the layer's `out` bounds them).
#pragma once
#include <map>
#include <utility>

#include "control/blueprint_bandit.hpp"
#include "control/policy.hpp"

namespace kasmina::control {

class HeuristicPolicy final : public Policy {
 public:
  HeuristicPolicy(const ControllerConfig& cfg, const std::vector<LayerObservation>& layers);
  const char* name() const override { return "heuristic"; }
  std::vector<Command> decide(const Observation& obs) override;
  void save(ControllerState& out) const override;
  void restore(const ControllerState& in) override;

  // Introspection (tests, reports).
  const BlueprintBandit& bandit(int32_t layer) const { return bandits_.at(layer); }
  double best_loss() const { return best_loss_; }
  int64_t since_improvement() const { return since_improvement_; }
  // First step at which (layer, seed) may germinate again (0 when not embargoed).
  int64_t embargo_until(int32_t layer, int32_t seed) const;
  // Reward of a fossilized seed with evaluation score `score`.
  double fossil_reward(double score) const;

 private:
  void learn(const Observation& obs);
  void track_plateau(const Observation& obs);
  // Germinates the best candidate with need >= min_need that the budgets allow.
  bool germinate(const Observation& obs, const std::string& trigger, double min_need,
                 std::vector<Command>& out);
  bool in_window(const Observation& obs) const;
  // One width step for `trigger` on a layer whose fresh ratio is >= min_ratio (plateau: any
  // layer with units left, min_ratio -inf).
  bool grow_width(const Observation& obs, const std::string& trigger, double min_ratio,
                  std::vector<Command>& out) const;
  // The dormant candidates, best first: (need, layer position, seed).
  struct Candidate {
    double need;
    size_t layer_pos;
    int32_t seed;
  };
  std::vector<Candidate> candidates(const Observation& obs) const;

  ControllerConfig cfg_;
  std::map<int32_t, BlueprintBandit> bandits_;  // by layer index
  std::map<std::pair<int32_t, int32_t>, int64_t> embargo_;
  double best_loss_ = 0.0;
  bool has_best_ = false;
  int64_t since_improvement_ = 0;
};

}  // namespace kasmina::control
