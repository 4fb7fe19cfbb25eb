#include "control/guard_monitor.hpp"

#include <string>

namespace kasmina::control {

GuardMonitor::GuardMonitor(EventBus& bus, const ops::LossGuardState& guard)
    : bus_(bus), guard_(guard) {}

int64_t GuardMonitor::poll(int64_t step) {
  const int64_t total = guard_.flagged.to_vector<int64_t>()[0];
  const int64_t fresh = total - seen_;
  if (fresh <= 0) return 0;
  seen_ = total;
  const int32_t kind = guard_.last_flagged_kind.to_vector<int32_t>()[0];
  Alert a;
  a.kind = kind == static_cast<int32_t>(ops::LossGuardFlag::spike) ? AlertKind::loss_spike
                                                                   : AlertKind::non_finite_loss;
  a.value = guard_.last_flagged_mean.to_vector<double>()[0];
  a.detail = std::to_string(fresh) + " step(s) flagged by the loss guard since the last read (" +
             std::to_string(total) + " in all); their loss was left out and their gradients zeroed";
  bus_.publish(step, std::move(a));
  return fresh;
}

}  // namespace kasmina::control
