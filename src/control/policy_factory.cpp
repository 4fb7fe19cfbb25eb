// make_policy: the policy named by ControllerConfig::type.
#include "control/heuristic_policy.hpp"
#include "control/policy.hpp"
#include "control/schedule_policy.hpp"
#include "nn/morph_from_config.hpp"

namespace kasmina::control {

std::unique_ptr<Policy> make_policy(const Config& cfg,
                                    const std::vector<LayerObservation>& layers) {
  switch (cfg.controller.type) {
    case ControllerType::none:
      return std::make_unique<NullPolicy>();
    case ControllerType::schedule:
      return std::make_unique<SchedulePolicy>(morph::schedule_from(cfg.schedule).entries());
    case ControllerType::heuristic:
      return std::make_unique<HeuristicPolicy>(cfg.controller, layers);
  }
  return std::make_unique<NullPolicy>();
}

}  // namespace kasmina::control
