// The names the config accepts for the morphogenetic layer's blueprints and grafting strategies
// (the kinds of src/morph/morph_config.hpp, in the order of their enums).
#pragma once
#include <string>
#include <vector>

namespace kasmina::config_detail {

inline std::vector<std::string> blueprint_names() {
  return {"residual_mlp", "low_rank", "diag_scale"};
}

inline std::vector<std::string> grafting_names() {
  return {"fixed_ramp", "performance_linked", "drift_controlled", "grad_norm_gated"};
}

}  // namespace kasmina::config_detail
