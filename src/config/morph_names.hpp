// The names the config accepts for the morphogenetic layer's blueprints (the blueprint registry:
// the built-ins and any registered at run time) and grafting strategies, as the schema's lists.
// The names themselves live in src/morph/morph_limits.hpp and src/morph/blueprint_registry.cpp.
#pragma once
#include <string>
#include <vector>

#include "config/rules.hpp"
#include "morph/blueprint_registry.hpp"
#include "morph/grafting.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::config_detail {

inline std::vector<std::string> blueprint_names() {
  return morph::blueprint_names();
}

// One of the registered blueprints, looked up when the value is read (the config's own
// `blueprints:` section registers its IR blueprints before the layers are read).
inline Rule<std::string> registered_blueprint() {
  return [](const std::string& v, const std::string& text) {
    return one_of(blueprint_names())(v, text);
  };
}

inline std::vector<std::string> grafting_names() {
  return morph::grafting_name_list();
}

}  // namespace kasmina::config_detail
