// Brings the device loss guard's verdicts onto the event bus: at the host cadence it reads the
// guard's counters (one small synchronous read) and publishes an Alert for the steps flagged
// since the previous read.
#pragma once
#include <cstdint>

#include "control/event_bus.hpp"
#include "ops/guard/loss_guard.hpp"

namespace kasmina::control {

class GuardMonitor {
 public:
  // `guard` must outlive the monitor (the trainer owns it).
  GuardMonitor(EventBus& bus, const ops::LossGuardState& guard);

  // When steps were flagged since the previous poll, publishes one Alert: kind non_finite_loss
  // or loss_spike (that of the last flagged step), value = that step's mean loss, detail = how
  // many steps were flagged. Returns the number of newly flagged steps.
  int64_t poll(int64_t step);
  int64_t flagged_total() const { return seen_; }

 private:
  EventBus& bus_;
  const ops::LossGuardState& guard_;
  int64_t seen_ = 0;
};

}  // namespace kasmina::control
