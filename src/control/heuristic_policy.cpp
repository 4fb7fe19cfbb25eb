#include "control/heuristic_policy.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "control/health_score.hpp"
#include "core/error.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_registry.hpp"

namespace kasmina::control {

HeuristicPolicy::HeuristicPolicy(const ControllerConfig& cfg,
                                 const std::vector<LayerObservation>& layers)
    : cfg_(cfg) {
  for (const LayerObservation& l : layers)
    bandits_.emplace(l.layer, BlueprintBandit(l.allowed, cfg.ucb_c));
}

double HeuristicPolicy::fossil_reward(double score) const {
  if (!(score > 0.0)) return 0.0;
  return score / (score + cfg_.min_delta);
}

int64_t HeuristicPolicy::embargo_until(int32_t layer, int32_t seed) const {
  const auto it = embargo_.find({layer, seed});
  return it == embargo_.end() ? 0 : it->second;
}

void HeuristicPolicy::learn(const Observation& obs) {
  for (const SeedOutcome& o : obs.outcomes) {
    auto it = bandits_.find(o.layer);
    const double reward = o.outcome == Outcome::fossilized ? fossil_reward(o.eval_score) : 0.0;
    if (it != bandits_.end()) it->second.record(o.blueprint, reward);
    if (o.outcome != Outcome::fossilized) embargo_[{o.layer, o.seed}] = o.step + cfg_.embargo_steps;
  }
}

void HeuristicPolicy::track_plateau(const Observation& obs) {
  const size_t n = obs.validation_losses.size();
  const size_t fresh =
      static_cast<size_t>(std::min<int64_t>(obs.new_validation, static_cast<int64_t>(n)));
  for (size_t i = n - fresh; i < n; ++i) {
    const double loss = obs.validation_losses[i];
    if (!has_best_ || loss < best_loss_ - cfg_.min_delta) {
      best_loss_ = loss;
      has_best_ = true;
      since_improvement_ = 0;
    } else {
      ++since_improvement_;
    }
  }
}

bool HeuristicPolicy::in_window(const Observation& obs) const {
  return obs.total_steps <= 0 || static_cast<double>(obs.step) <
                                     cfg_.germination_window * static_cast<double>(obs.total_steps);
}

std::vector<HeuristicPolicy::Candidate> HeuristicPolicy::candidates(const Observation& obs) const {
  const bool by_gradient = cfg_.seed_choice == "gradient";
  std::vector<Candidate> out;
  for (size_t li = 0; li < obs.layers.size(); ++li) {
    const LayerObservation& l = obs.layers[li];
    double sum = 0.0;  // the layer's mean chunk score (seeds with a measured score)
    int64_t measured = 0;
    for (const SeedObservation& so : l.seeds)
      if (so.has_telemetry && so.telemetry.grad_score >= 0.0)
        sum += so.telemetry.grad_score, ++measured;
    const double mean = measured > 0 ? sum / static_cast<double>(measured) : 0.0;
    for (size_t s = 0; s < l.seeds.size(); ++s) {
      const SeedObservation& so = l.seeds[s];
      if (so.stage != morph::Stage::dormant || !so.has_telemetry) continue;
      if (obs.step < embargo_until(l.layer, static_cast<int32_t>(s))) continue;
      if (!by_gradient) {
        out.push_back({capacity_need(so.telemetry), li, static_cast<int32_t>(s)});
      } else if (so.telemetry.grad_score >= 0.0 && mean > 0.0) {
        out.push_back({so.telemetry.grad_score / mean, li, static_cast<int32_t>(s)});
      }
    }
  }
  // Highest need first; ties in layer then seed order (stable sort over that order).
  std::stable_sort(out.begin(), out.end(),
                   [](const Candidate& a, const Candidate& b) { return a.need > b.need; });
  return out;
}

bool HeuristicPolicy::germinate(const Observation& obs, const std::string& trigger, double min_need,
                                std::vector<Command>& out) {
  if (obs.active_seeds >= cfg_.max_active) return false;
  const int64_t room = cfg_.max_added_parameters - obs.added_parameters;
  for (const Candidate& c : candidates(obs)) {
    if (c.need < min_need) break;
    const LayerObservation& l = obs.layers[c.layer_pos];
    const auto bit = bandits_.find(l.layer);
    KASMINA_CHECK(bit != bandits_.end(), "HeuristicPolicy: layer without a bandit");
    const BlueprintBandit& bandit = bit->second;
    std::vector<bool> fits(bandit.arms().size());
    for (size_t a = 0; a < fits.size(); ++a) {
      fits[a] =
          morph::registered_param_count(static_cast<int32_t>(bandit.arms()[a]), l.shape) <= room;
    }
    const int32_t arm = bandit.choose(fits);
    if (arm < 0) continue;
    Command cmd;
    cmd.kind = CommandKind::germinate;
    cmd.layer = l.layer;
    cmd.seed = c.seed;
    cmd.blueprint = bandit.arms()[arm];
    char why[200];
    std::snprintf(why, sizeof why, "; %s %.4f; ucb %.4f",
                  cfg_.seed_choice == "gradient" ? "gradient ratio" : "need", c.need,
                  bandit.ucb(arm));
    cmd.reason = trigger + why;
    out.push_back(std::move(cmd));
    return true;
  }
  return false;
}

bool HeuristicPolicy::grow_width(const Observation& obs, const std::string& trigger,
                                 double min_ratio, std::vector<Command>& out) const {
  const bool plateau = min_ratio == -std::numeric_limits<double>::infinity();
  const WidthObservation* best = nullptr;
  for (const WidthObservation& w : obs.widths) {
    if (!w.can_grow()) continue;
    if (plateau) {
      best = &w;
      break;
    }
    if (w.fresh && w.report.ratio >= min_ratio && (!best || w.report.ratio > best->report.ratio))
      best = &w;
  }
  if (best == nullptr) return false;
  Command cmd;
  cmd.kind = CommandKind::grow_width;
  cmd.layer = best->layer;
  cmd.seed = static_cast<int32_t>(best->steps_done);
  cmd.value = best->fresh ? static_cast<float>(best->report.ratio) : 0.0f;
  char why[200];
  if (best->fresh)
    std::snprintf(why, sizeof why, "; width ratio %.4f (new units %.5g, active units %.5g)",
                  best->report.ratio, best->report.new_units, best->report.active_units);
  else
    std::snprintf(why, sizeof why, "; width not measured since its last step");
  cmd.reason = trigger + why;
  out.push_back(std::move(cmd));
  return true;
}

std::vector<Command> HeuristicPolicy::decide(const Observation& obs) {
  learn(obs);
  track_plateau(obs);
  std::vector<Command> out;
  if (!in_window(obs)) return out;
  char why[160];
  if (has_best_ && since_improvement_ >= cfg_.patience) {
    std::snprintf(why, sizeof why, "plateau: %ld measurements without improvement (best %.6f)",
                  static_cast<long>(since_improvement_), best_loss_);
    const double any = -std::numeric_limits<double>::infinity();
    if (germinate(obs, why, any, out) || grow_width(obs, why, any, out)) since_improvement_ = 0;
    return out;
  }
  if (cfg_.seed_choice == "gradient" && cfg_.grad_trigger_ratio > 0.0) {
    std::snprintf(why, sizeof why, "gradient: ratio at least %.4g", cfg_.grad_trigger_ratio);
    germinate(obs, why, cfg_.grad_trigger_ratio, out);
    grow_width(obs, why, cfg_.grad_trigger_ratio, out);
  }
  return out;
}

void HeuristicPolicy::save(ControllerState& out) const {
  for (const auto& [layer, b] : bandits_) {
    const std::string p = "heuristic/bandit/layer" + std::to_string(layer) + "/";
    const int64_t arms = static_cast<int64_t>(b.arms().size());
    out.tensors.emplace_back(p + "plays", Tensor::from_vector(b.plays(), {arms}));
    out.tensors.emplace_back(p + "reward_sums", Tensor::from_vector(b.reward_sums(), {arms}));
  }
  std::vector<int64_t> table;
  for (const auto& [key, until] : embargo_) {
    table.push_back(key.first);
    table.push_back(key.second);
    table.push_back(until);
  }
  out.tensors.emplace_back("heuristic/embargo",
                           Tensor::from_vector(table, {static_cast<int64_t>(embargo_.size()), 3}));
  out.ints["heuristic/has_best"] = has_best_ ? 1 : 0;
  out.ints["heuristic/since_improvement"] = since_improvement_;
  out.floats["heuristic/best_loss"] = best_loss_;
}

void HeuristicPolicy::restore(const ControllerState& in) {
  for (auto& [layer, b] : bandits_) {
    const std::string p = "heuristic/bandit/layer" + std::to_string(layer) + "/";
    const std::vector<int64_t> plays = in.get(p + "plays", DType::i64).to_vector<int64_t>();
    const std::vector<double> sums = in.get(p + "reward_sums", DType::f64).to_vector<double>();
    if (plays.size() != b.arms().size() || sums.size() != b.arms().size())
      unfit(p + "plays and reward_sums do not hold one value per blueprint arm");
    b.restore(plays, sums);
  }
  const std::vector<int64_t> table = in.get("heuristic/embargo", DType::i64).to_vector<int64_t>();
  if (table.size() % 3 != 0) unfit("embargo table is not [n, 3]");
  embargo_.clear();
  for (size_t i = 0; i < table.size(); i += 3) {
    embargo_[{static_cast<int32_t>(table[i]), static_cast<int32_t>(table[i + 1])}] = table[i + 2];
  }
  has_best_ = in.get_int("heuristic/has_best") != 0;
  since_improvement_ = in.get_int("heuristic/since_improvement");
  best_loss_ = in.get_float("heuristic/best_loss");
}

}  // namespace kasmina::control
