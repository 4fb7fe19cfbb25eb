#include "control/schedule_policy.hpp"

namespace kasmina::control {

SchedulePolicy::SchedulePolicy(std::vector<morph::ScheduledGermination> entries)
    : entries_(std::move(entries)) {}

std::vector<Command> SchedulePolicy::decide(const Observation& obs) {
  std::vector<Command> out;
  for (const morph::ScheduledGermination& e : entries_) {
    if (e.step != obs.step) continue;
    Command c;
    c.kind = CommandKind::germinate;
    c.layer = e.layer;
    c.seed = e.seed;
    c.blueprint = e.blueprint;
    c.reason = "schedule";
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace kasmina::control
