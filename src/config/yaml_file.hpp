// Reading a YAML file as one document, with the config's messages (file:line: invalid YAML,
// not a regular file, ...). Defined in config.cpp.
#pragma once
#include <string>

#include <yaml-cpp/yaml.h>

namespace kasmina::config_detail {

// The file's text (UserError when it cannot be read).
std::string read_yaml_text(const std::string& path);
// One YAML document (an empty file: an empty mapping).
YAML::Node parse_yaml(const std::string& text, const std::string& path);
inline YAML::Node load_yaml_file(const std::string& path) {
  return parse_yaml(read_yaml_text(path), path);
}

}  // namespace kasmina::config_detail
