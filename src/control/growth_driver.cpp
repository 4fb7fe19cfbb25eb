#include "control/growth_driver.hpp"

#include <cstdio>

#include "control/causal_eval.hpp"
#include "morph/blueprint.hpp"
#include "morph/stage.hpp"

namespace kasmina::control {

GrowthDriver::GrowthDriver(std::vector<morph::KasminaLayer*> layers,
                           std::function<std::vector<double>()> sample_losses,
                           std::function<void(std::vector<double>&)> sum_over_ranks, double z)
    : layers_(std::move(layers)),
      sample_losses_(std::move(sample_losses)),
      sum_over_ranks_(std::move(sum_over_ranks)),
      z_(z) {}

void GrowthDriver::after_step() {
  for (morph::KasminaLayer* l : layers_) {
    // The layer read its event ring at this boundary: the extra drain is nearly free.
    if (l->boundaries() % l->config().telemetry_every == 0) collect(*l);
  }
}

void GrowthDriver::flush() {
  for (morph::KasminaLayer* l : layers_) collect(*l);
}

void GrowthDriver::collect(morph::KasminaLayer& layer) {
  const int32_t index = layer.config().layer_index;
  for (const morph::MorphEvent& e : layer.drain_events()) {
    pending_.push_back({e, ""});
    const auto reason = static_cast<morph::Reason>(e.reason);
    const bool accepted = !morph::reason_is_refusal(reason) && e.from != e.to;
    if (accepted && e.to == static_cast<int32_t>(morph::Stage::germinated))
      keep_pregermination(layer, e.seed);
    if (accepted && (e.to == static_cast<int32_t>(morph::Stage::culled) ||
                     e.to == static_cast<int32_t>(morph::Stage::cancelled) ||
                     e.to == static_cast<int32_t>(morph::Stage::rolled_back) ||
                     e.to == static_cast<int32_t>(morph::Stage::fossilized)))
      pre_.erase({index, e.seed});
    const bool entered_evaluating = e.to == static_cast<int32_t>(morph::Stage::evaluating) &&
                                    e.from != e.to &&
                                    !morph::reason_is_refusal(static_cast<morph::Reason>(e.reason));
    if (entered_evaluating) evaluate_seed(layer, e.seed);
  }
}

void GrowthDriver::evaluate_seed(morph::KasminaLayer& layer, int32_t seed) {
  if (!sample_losses_) {
    pending_.back().note = "no validation split: the seed cannot be judged and will time out";
    return;
  }
  const std::vector<double> with_seed = sample_losses_();
  layer.set_eval_alpha_zero({seed});
  const std::vector<double> without_seed = sample_losses_();
  layer.clear_eval_alpha_zero();
  std::vector<double> sums = paired_sums(with_seed, without_seed);
  double with_sum = 0.0;
  for (double l : with_seed) with_sum += l;
  sums.push_back(with_sum);
  if (sum_over_ranks_) sum_over_ranks_(sums);
  const double mean_with = sums[0] > 0.0 ? sums[3] / sums[0] : 0.0;
  sums.pop_back();
  const PairedGain g = paired_gain(sums, z_);
  // > 0 keeps the seed: its gain on the validation loss exceeds z standard errors.
  layer.set_eval_score(seed, static_cast<float>(g.score));
  char note[200];
  std::snprintf(note, sizeof note,
                "validation loss %.5f with the seed, %.5f without (alpha 0) over %.0f samples: "
                "gain %+.5f, se %.5f, score (gain - %.1f se) %+.5f",
                mean_with, mean_with + g.gain, g.n, g.gain, g.se, z_, g.score);
  std::string text = note;
  const bool flag =
      compare_pregermination(layer.config().layer_index, seed, with_seed, g.keep, text);
  pending_.back().note = text;
  pending_.back().flagged = flag;
  if (flag) ++flagged_;
}

void GrowthDriver::keep_pregermination(morph::KasminaLayer& layer, int32_t seed) {
  if (!sample_losses_) return;
  // The network without the seed: before its germination (alpha 0 leaves the host untouched).
  layer.set_eval_alpha_zero({seed});
  pre_[{layer.config().layer_index, seed}] = sample_losses_();
  layer.clear_eval_alpha_zero();
}

bool GrowthDriver::compare_pregermination(int32_t layer, int32_t seed,
                                          const std::vector<double>& with_seed, bool kept,
                                          std::string& note) {
  const auto it = pre_.find({layer, seed});
  std::vector<double> sums = {0.0, 0.0, 0.0};
  const bool usable = it != pre_.end() && it->second.size() == with_seed.size();
  if (usable) sums = paired_sums(with_seed, it->second);
  if (sum_over_ranks_) sum_over_ranks_(sums);  // every rank takes part, usable or not
  if (it != pre_.end()) pre_.erase(it);
  if (!usable || !(sums[0] > 0.0)) {
    note += "; no pre-germination losses kept";
    return false;
  }
  const PregerminationCheck c = check_pregermination(kept, sums, z_);
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "; over the pre-germination network: gain %+.5f, se %.5f, score %+.5f",
                c.over_pre.gain, c.over_pre.se, c.over_pre.score);
  note += buf;
  if (c.flagged) note += "; FLAGGED: removal hurts but no gain over the pre-germination network";
  return c.flagged;
}

std::vector<GrowthEvent> GrowthDriver::take_events() {
  std::vector<GrowthEvent> out;
  out.swap(pending_);
  return out;
}

std::string describe_event(const morph::MorphEvent& e) {
  const auto reason = static_cast<morph::Reason>(e.reason);
  char buf[200];
  const char* bp = e.blueprint >= 0
                       ? morph::blueprint_name(static_cast<morph::BlueprintKind>(e.blueprint))
                       : "-";
  std::snprintf(buf, sizeof buf, "step %ld  layer %d seed %d  %s -> %s  %s%s %g  (%s)",
                static_cast<long>(e.step), e.layer, e.seed,
                morph::stage_name(static_cast<morph::Stage>(e.from)),
                morph::stage_name(static_cast<morph::Stage>(e.to)),
                morph::reason_is_refusal(reason) ? "REFUSED " : "", morph::reason_name(reason),
                static_cast<double>(e.value), bp);
  return buf;
}

}  // namespace kasmina::control
