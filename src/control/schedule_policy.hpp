// The hand schedule as a policy: at step `step` it commands the germinations listed for it.
#pragma once
#include "control/germination_schedule.hpp"
#include "control/policy.hpp"

namespace kasmina::control {

class SchedulePolicy final : public Policy {
 public:
  explicit SchedulePolicy(std::vector<morph::ScheduledGermination> entries);
  const char* name() const override { return "schedule"; }
  std::vector<Command> decide(const Observation& obs) override;

 private:
  std::vector<morph::ScheduledGermination> entries_;
};

// Never commands anything (controller type `none`).
class NullPolicy final : public Policy {
 public:
  const char* name() const override { return "none"; }
  std::vector<Command> decide(const Observation&) override { return {}; }
};

}  // namespace kasmina::control
