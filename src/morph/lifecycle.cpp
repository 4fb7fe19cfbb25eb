// Names of stages and reasons (host side of the lifecycle; the rules are in lifecycle.hpp).
#include "morph/lifecycle.hpp"

#include <cctype>
#include <string>

namespace kasmina::morph {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::dormant:
      return "DORMANT";
    case Stage::germinated:
      return "GERMINATED";
    case Stage::training:
      return "TRAINING";
    case Stage::grafting:
      return "GRAFTING";
    case Stage::stabilization:
      return "STABILIZATION";
    case Stage::evaluating:
      return "EVALUATING";
    case Stage::fine_tuning:
      return "FINE_TUNING";
    case Stage::fossilized:
      return "FOSSILIZED";
    case Stage::culled:
      return "CULLED";
    case Stage::cancelled:
      return "CANCELLED";
    case Stage::rolled_back:
      return "ROLLED_BACK";
  }
  return "?";
}

bool parse_stage(const char* name, Stage* out) {
  std::string upper(name ? name : "");
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (int32_t i = 0; i < kStageCount; ++i) {
    if (upper == stage_name(static_cast<Stage>(i))) {
      *out = static_cast<Stage>(i);
      return true;
    }
  }
  return false;
}

const char* reason_name(Reason r) {
  switch (r) {
    case Reason::command:
      return "command";
    case Reason::training_slot:
      return "training_slot";
    case Reason::loss_gate:
      return "loss_gate";
    case Reason::training_timeout:
      return "training_timeout";
    case Reason::alpha_complete:
      return "alpha_complete";
    case Reason::stabilized:
      return "stabilized";
    case Reason::improved:
      return "improved";
    case Reason::not_improved:
      return "not_improved";
    case Reason::evaluation_timeout:
      return "evaluation_timeout";
    case Reason::fine_tuned:
      return "fine_tuned";
    case Reason::released:
      return "released";
    case Reason::non_finite:
      return "non_finite";
    case Reason::score_set:
      return "score_set";
    case Reason::improvement_set:
      return "improvement_set";
    case Reason::loss_alarm:
      return "loss_alarm";
    case Reason::refused_illegal:
      return "refused_illegal";
    case Reason::refused_min_steps:
      return "refused_min_steps";
    case Reason::refused_gate:
      return "refused_gate";
    case Reason::refused_pool_exhausted:
      return "refused_pool_exhausted";
    case Reason::refused_blueprint:
      return "refused_blueprint";
    case Reason::refused_bad_seed:
      return "refused_bad_seed";
    case Reason::refused_bad_command:
      return "refused_bad_command";
  }
  return "?";
}

}  // namespace kasmina::morph
