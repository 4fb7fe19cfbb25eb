// Blueprints for the IR tests, written in YAML and read through the config level (as a user's
// `blueprints:` section is), and small numeric helpers.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/blueprints.hpp"
#include "core/error.hpp"
#include "ir/graph.hpp"

namespace kasmina::ir::testing {

// The blueprints of `yaml` (the body of a `blueprints:` mapping, file "bp.yaml").
inline std::vector<Graph> graphs_of(const std::string& yaml) {
  const config_detail::ReadContext ctx("bp.yaml");
  const YAML::Node root = YAML::Load(yaml);
  std::vector<Graph> out;
  for (const GraphSpec& s :
       config_detail::read_blueprint_specs(root["blueprints"], ctx, "blueprints"))
    out.push_back(config_detail::build_blueprint(s, ctx));
  return out;
}

inline Graph graph_of(const std::string& yaml) {
  return graphs_of(yaml).at(0);
}

// One blueprint `b` with the given params and nodes (flow YAML), output y.
inline std::string blueprint(const std::string& params, const std::vector<std::string>& nodes,
                             const std::string& output = "y") {
  std::string s =
      "blueprints:\n  b:\n    inputs: {x: [C]}\n    params: {" + params + "}\n    nodes:\n";
  for (const std::string& n : nodes) s += "      - " + n + "\n";
  return s + "    output: " + output + "\n";
}

// The UserError message of reading `yaml`, or "" when it is valid.
inline std::string error_of(const std::string& yaml) {
  try {
    graphs_of(yaml);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace kasmina::ir::testing
