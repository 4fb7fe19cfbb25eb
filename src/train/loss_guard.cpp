#include "train/loss_guard.hpp"

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>

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

namespace {

// The guard's checkpoint section "guard/": one entry per state tensor, in the order saved.
// `mark` is saved always and loaded only mid-epoch (an epoch starts from a zero mark).
template <class State>
auto guard_entries(State& s) {
  using T = std::remove_reference_t<decltype((s.mark))>;  // Tensor or const Tensor
  return std::array<std::pair<const char*, T*>, 7>{{{"mark", &s.mark},
                                                    {"running", &s.running},
                                                    {"accepted", &s.accepted},
                                                    {"flagged", &s.flagged},
                                                    {"last_flagged_mean", &s.last_flagged_mean},
                                                    {"last_flagged_kind", &s.last_flagged_kind},
                                                    {"flag", &s.flag}}};
}

}  // namespace

void LossGuard::save_state(StateWriter& out) const {
  if (!present_) return;
  StateWriter g = out.section("guard");
  for (const auto& [name, t] : guard_entries(state_)) g.tensor(name, *t);
}

void LossGuard::load_state(const StateReader& in) {
  if (!present_) return;
  const StateReader g = in.section("guard");
  for (const auto& [name, t] : guard_entries(state_))
    if (t != &state_.mark) g.load(name, *t);
  if (in.run().epoch_step > 0) g.load("mark", state_.mark);
}

}  // namespace kasmina
