#include "config/config_flatten.hpp"

#include <yaml-cpp/yaml.h>

namespace kasmina {

namespace {

void flatten(const YAML::Node& node, const std::string& key, std::vector<ConfigEntry>& out) {
  const auto child_key = [&key](const std::string& k) { return key.empty() ? k : key + "." + k; };
  switch (node.Type()) {
    case YAML::NodeType::Map:
      if (node.size() == 0) out.push_back({key, "{}", false});
      for (const auto& kv : node) flatten(kv.second, child_key(kv.first.Scalar()), out);
      break;
    case YAML::NodeType::Sequence:
      if (node.size() == 0) out.push_back({key, "[]", false});
      for (size_t i = 0; i < node.size(); ++i) flatten(node[i], child_key(std::to_string(i)), out);
      break;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags a quoted scalar "!" and a plain one "?".
      out.push_back({key, node.Scalar(), node.Tag() == "!"});
      break;
    default:
      out.push_back({key, "null", false});
      break;
  }
}

}  // namespace

std::vector<ConfigEntry> flatten_config(const Config& config) {
  std::vector<ConfigEntry> out;
  flatten(YAML::Load(to_yaml(config)), "", out);
  return out;
}

}  // namespace kasmina
