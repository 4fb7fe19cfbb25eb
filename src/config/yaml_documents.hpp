// A pass over the documents of YAML text before yaml-cpp builds them. yaml-cpp 0.7 never gets
// past some stray tokens at the top level (a ',' after a complete document: `,`, `[a, b],`, a
// flow-style config with a trailing comma): YAML::LoadAll then returns an endless list of empty
// documents, growing memory until the process dies. The pass notices a document that starts
// where the previous one did.
#pragma once
#include <optional>
#include <string>

#include <yaml-cpp/mark.h>

namespace kasmina::config_detail {

// Where yaml-cpp stops making progress in `text` (the stray token), or nothing. Syntax errors
// are YAML::Exception, as from YAML::LoadAll.
std::optional<YAML::Mark> stuck_yaml_token(const std::string& text);

}  // namespace kasmina::config_detail
