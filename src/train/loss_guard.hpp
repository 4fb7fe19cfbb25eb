// The run's loss guard (the device op is ops/guard/loss_guard.hpp): present when the model has
// morphogenetic layers or the NaN debug hook is set, and in the step only while a seed may be
// active (with every seed dormant the network is the plain one and there is nothing to roll
// back). A flagged step (NaN/Inf or spike) is left out of the epoch's loss and raises the flag
// the layers read to roll their seeds back on the device.
//
// Checkpoint entries (when present): "guard/mark", "guard/running", "guard/accepted",
// "guard/flagged", "guard/last_flagged_mean", "guard/last_flagged_kind", "guard/flag".
#pragma once
#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "core/stateful.hpp"
#include "ops/guard/loss_guard.hpp"

namespace kasmina {

namespace morph {
class KasminaLayer;
}

class LossGuard final : public Stateful {
 public:
  // `present`: the run has a guard; nothing is allocated otherwise.
  LossGuard(const ControllerConfig& cfg, bool present, Device dev);

  bool present() const { return present_; }
  bool on() const { return on_; }
  const ops::LossGuardState& state() const { return state_; }

  // Before a step: switches the guard on while any of `layers` may have an active seed (or the
  // NaN hook is set), off otherwise. Turning on takes `loss_sum` as the mark.
  void update(const std::vector<morph::KasminaLayer*>& layers, const Tensor& loss_sum);
  // In the step after the loss (only while on): the NaN hook, then the guard.
  void guard_step(const Tensor& step, Tensor& loss_sum, int64_t batch, Tensor* dlogits);
  // The start of an epoch (its loss accumulator starts at zero).
  void begin_epoch();
  // Steps flagged so far (a synchronous host read; 0 without a guard).
  int64_t flagged_total() const;

  void save_state(StateWriter& out) const override;
  // Everything but the mark; the mark (the epoch's loss accumulator at the last guarded step)
  // only for a state inside an epoch.
  void load_state(const StateReader& in) override;

 private:
  bool present_ = false;
  bool on_ = false;
  int64_t debug_nan_step_ = -1;
  ops::LossGuardState state_;
  ops::LossGuardParams params_;
};

}  // namespace kasmina
