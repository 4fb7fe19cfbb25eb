// Names of stages and reasons (host side of the lifecycle; the rules are in lifecycle.hpp).
#include "morph/lifecycle.hpp"

#include "core/enum_table.hpp"

namespace kasmina::morph {

constexpr EnumTable<Stage, 11> kStageNames{{
    {"DORMANT", Stage::dormant},
    {"GERMINATED", Stage::germinated},
    {"TRAINING", Stage::training},
    {"GRAFTING", Stage::grafting},
    {"STABILIZATION", Stage::stabilization},
    {"EVALUATING", Stage::evaluating},
    {"FINE_TUNING", Stage::fine_tuning},
    {"FOSSILIZED", Stage::fossilized},
    {"CULLED", Stage::culled},
    {"CANCELLED", Stage::cancelled},
    {"ROLLED_BACK", Stage::rolled_back},
}};

const char* stage_name(Stage s) {
  return enum_name(kStageNames, s);
}

bool parse_stage(const char* name, Stage* out) {
  const auto s = enum_parse(kStageNames, name ? name : "", /*ignore_case=*/true);
  if (s) *out = *s;
  return s.has_value();
}

constexpr EnumTable<Reason, 23> kReasonNames{{
    {"command", Reason::command},
    {"training_slot", Reason::training_slot},
    {"loss_gate", Reason::loss_gate},
    {"training_timeout", Reason::training_timeout},
    {"alpha_complete", Reason::alpha_complete},
    {"stabilized", Reason::stabilized},
    {"improved", Reason::improved},
    {"not_improved", Reason::not_improved},
    {"evaluation_timeout", Reason::evaluation_timeout},
    {"fine_tuned", Reason::fine_tuned},
    {"released", Reason::released},
    {"non_finite", Reason::non_finite},
    {"score_set", Reason::score_set},
    {"improvement_set", Reason::improvement_set},
    {"loss_alarm", Reason::loss_alarm},
    {"width_grown", Reason::width_grown},
    {"refused_illegal", Reason::refused_illegal},
    {"refused_min_steps", Reason::refused_min_steps},
    {"refused_gate", Reason::refused_gate},
    {"refused_pool_exhausted", Reason::refused_pool_exhausted},
    {"refused_blueprint", Reason::refused_blueprint},
    {"refused_bad_seed", Reason::refused_bad_seed},
    {"refused_bad_command", Reason::refused_bad_command},
}};

const char* reason_name(Reason r) {
  return enum_name(kReasonNames, r);
}

}  // namespace kasmina::morph
