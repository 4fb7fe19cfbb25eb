// Shape inference and parameter initialisers of the IR (used by build()).
#pragma once
#include "ir/graph.hpp"

namespace kasmina::ir {

// A declared parameter: its dimensions (1 or 2) and, when the declaration gives one, its
// initialiser. Throws GraphError.
Param parse_param(const ParamSpec& p);
// Infers node k's output size from its inputs (already inferred) and checks its parameters'
// shapes; gives each of its parameters its initialiser (the node's `init`, else the role's
// default: a linear weight uniform(fan_in), a bias and a shift zeros, a scale ones).
void infer_shape(Graph& g, int32_t k, const NodeSpec& spec);

}  // namespace kasmina::ir
