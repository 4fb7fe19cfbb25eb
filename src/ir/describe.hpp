// A checked IR graph as text for `kasmina blueprint check`: the input, parameters (shapes,
// initialisers, sizes at one blueprint shape), nodes in canonical order with their inferred
// shapes, the output, the parameter count and the canonical hash.
#pragma once
#include <string>

#include "ir/graph.hpp"
#include "morph/morph_config.hpp"

namespace kasmina::ir {

std::string describe(const Graph& g, const morph::BlueprintShape& sh);

}  // namespace kasmina::ir
