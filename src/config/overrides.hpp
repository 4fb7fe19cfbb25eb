// --set key.path=value: edits the parsed YAML tree before it is read, so an overridden value
// goes through exactly the same checks as one written in the file.
#pragma once
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/read_context.hpp"
#include "config/schema.hpp"

namespace kasmina::config_detail {

// Applies each "key.path=value" in order to `root` (a mapping). Path segments are keys of the
// schema `top`, or list indices (0-based; the index one past the end appends an entry). The
// value is read as YAML (a scalar, or a flow list/mapping such as {type: relu}). Each
// override is recorded in `ctx`, so that errors in its value name the --set. A malformed
// override or a path outside the schema is a UserError.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& sets, const Shape& top,
                     ReadContext& ctx);

}  // namespace kasmina::config_detail
