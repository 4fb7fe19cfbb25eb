// A blueprint as the user wrote it (names, texts, where each part was written), before it is
// checked: what the config level fills from YAML (src/config/blueprints.cpp) and writes back.
// The IR itself reads no YAML. build() (graph.hpp) turns a spec into a checked Graph.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace kasmina::ir {

// Where a part of the spec was written: the line in its file and its key path
// ("blueprints.gated_mlp.nodes[2]").
struct Loc {
  int line = 0;
  std::string key;
  bool operator==(const Loc&) const = default;
};

struct ParamSpec {
  std::string name;
  std::vector<std::string> dims;  // "h", "C", "16", "2*h"
  std::string init;               // empty: the default of the node that uses it
  Loc loc;
  bool operator==(const ParamSpec&) const = default;
};

struct NodeSpec {
  std::string op;
  std::vector<std::string> in;
  std::string out;
  std::string weight, bias;     // linear
  std::string param;            // scale, shift: a parameter ...
  std::optional<double> value;  // ... or a constant
  std::optional<double> eps;    // layernorm, rmsnorm
  std::string from, size;       // slice
  std::string init;             // the initialiser of the node's weight or parameter
  Loc loc;
  bool operator==(const NodeSpec&) const = default;
};

struct GraphSpec {
  std::string name;
  std::string input = "x";
  std::string input_dim = "C";
  std::vector<ParamSpec> params;
  std::vector<NodeSpec> nodes;
  std::string output;
  Loc loc;         // the blueprint's key
  Loc output_loc;  // its `output` (key path: the blueprint's)
  bool operator==(const GraphSpec&) const = default;
};

}  // namespace kasmina::ir
