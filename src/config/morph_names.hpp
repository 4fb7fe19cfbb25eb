// The names the config accepts for the morphogenetic layer's blueprints (the blueprint registry:
// the built-ins and any registered at run time) and grafting strategies, as the schema's lists.
// The names themselves live in src/morph/morph_limits.hpp and src/morph/blueprint_registry.cpp.
#pragma once
#include <string>
#include <vector>

#include "morph/blueprint_registry.hpp"
#include "morph/grafting.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::config_detail {

inline std::vector<std::string> blueprint_names() {
  return morph::blueprint_names();
}

inline std::vector<std::string> grafting_names() {
  return morph::grafting_name_list();
}

}  // namespace kasmina::config_detail
