#include "control/growth_driver.hpp"

#include <cstdio>

#include "morph/blueprint.hpp"
#include "morph/stage.hpp"

namespace kasmina::control {

GrowthDriver::GrowthDriver(std::vector<morph::KasminaLayer*> layers,
                           std::function<double()> validation_loss)
    : layers_(std::move(layers)), validation_loss_(std::move(validation_loss)) {}

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
  for (const morph::MorphEvent& e : layer.drain_events()) {
    pending_.push_back({e, ""});
    const bool entered_evaluating =
        e.to == static_cast<int32_t>(morph::Stage::evaluating) && e.from != e.to &&
        !morph::reason_is_refusal(static_cast<morph::Reason>(e.reason));
    if (entered_evaluating) evaluate_seed(layer, e.seed);
  }
}

void GrowthDriver::evaluate_seed(morph::KasminaLayer& layer, int32_t seed) {
  if (!validation_loss_) {
    pending_.back().note = "no validation split: the seed cannot be judged and will time out";
    return;
  }
  const double with_seed = validation_loss_();
  layer.set_eval_alpha_zero({seed});
  const double without_seed = validation_loss_();
  layer.clear_eval_alpha_zero();
  const double score = without_seed - with_seed;  // > 0: the seed lowers the validation loss
  layer.set_eval_score(seed, static_cast<float>(score));
  char note[160];
  std::snprintf(note, sizeof note,
                "validation loss %.5f with the seed, %.5f without (alpha 0): score %+.5f", with_seed,
                without_seed, score);
  pending_.back().note = note;
}

std::vector<GrowthEvent> GrowthDriver::take_events() {
  std::vector<GrowthEvent> out;
  out.swap(pending_);
  return out;
}

std::string describe_event(const morph::MorphEvent& e) {
  const auto reason = static_cast<morph::Reason>(e.reason);
  char buf[200];
  const char* bp = e.blueprint >= 0 ? morph::blueprint_name(static_cast<morph::BlueprintKind>(e.blueprint)) : "-";
  std::snprintf(buf, sizeof buf, "step %ld  layer %d seed %d  %s -> %s  %s%s %g  (%s)",
                static_cast<long>(e.step), e.layer, e.seed,
                morph::stage_name(static_cast<morph::Stage>(e.from)),
                morph::stage_name(static_cast<morph::Stage>(e.to)),
                morph::reason_is_refusal(reason) ? "REFUSED " : "", morph::reason_name(reason),
                static_cast<double>(e.value), bp);
  return buf;
}

}  // namespace kasmina::control
