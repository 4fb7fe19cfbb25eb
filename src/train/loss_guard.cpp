#include "train/loss_guard.hpp"

#include <algorithm>

#include "nn/kasmina_layer.hpp"
#include "ops/ops.hpp"

namespace kasmina {

LossGuard::LossGuard(const ControllerConfig& cfg, bool present, Device dev)
    : present_(present), debug_nan_step_(cfg.debug_nan_step) {
  if (!present_) return;
  state_ = ops::make_loss_guard_state(dev);
  params_.spike_factor = static_cast<float>(cfg.spike_factor);
}

void LossGuard::update(const std::vector<morph::KasminaLayer*>& layers, const Tensor& loss_sum) {
  const bool on = present_ && (debug_nan_step_ >= 0 ||
                               std::any_of(layers.begin(), layers.end(), [](const auto* l) {
                                 return l->may_have_active_seeds();
                               }));
  if (on == on_) return;
  if (on) {
    // After every guarded step mark == loss_sum (a flagged step sets loss_sum back to mark), so
    // taking the accumulator as the mark resumes the guard exactly where an always-on guard
    // would be.
    state_.mark.copy_from(loss_sum);
  } else {
    ops::fill(state_.flag, 0.0);  // no stale alarm while the guard is off
  }
  on_ = on;
}

void LossGuard::guard_step(const Tensor& step, Tensor& loss_sum, int64_t batch, Tensor* dlogits) {
  if (!on_) return;
  ops::inject_nan_at_step(step, debug_nan_step_, loss_sum, dlogits);
  ops::loss_guard(loss_sum, batch, params_, state_, dlogits);
}

void LossGuard::begin_epoch() {
  if (present_) ops::fill(state_.mark, 0.0);
}

int64_t LossGuard::flagged_total() const {
  return present_ ? state_.flagged.to_vector<int64_t>()[0] : 0;
}

void LossGuard::save_state(StateWriter& out) const {
  if (!present_) return;
  StateWriter g = out.section("guard");
  g.tensor("mark", state_.mark);
  g.tensor("running", state_.running);
  g.tensor("accepted", state_.accepted);
  g.tensor("flagged", state_.flagged);
  g.tensor("last_flagged_mean", state_.last_flagged_mean);
  g.tensor("last_flagged_kind", state_.last_flagged_kind);
  g.tensor("flag", state_.flag);
}

void LossGuard::load_state(const StateReader& in) {
  if (!present_) return;
  const StateReader g = in.section("guard");
  g.load("running", state_.running);
  g.load("accepted", state_.accepted);
  g.load("flagged", state_.flagged);
  g.load("last_flagged_mean", state_.last_flagged_mean);
  g.load("last_flagged_kind", state_.last_flagged_kind);
  g.load("flag", state_.flag);
  if (in.run().epoch_step > 0) g.load("mark", state_.mark);
}

}  // namespace kasmina
