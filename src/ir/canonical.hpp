// The canonical form of an IR graph: nodes in the order of a depth-first walk from the output
// (the inputs of add and mul sorted by their structure), parameters numbered by first use, no
// names. Its text is the serialisation and its SHA-256 the graph's hash: renaming values or
// parameters, listing nodes or parameters in another order, or swapping the inputs of add/mul
// does not change it; any change of an op, a size, a constant or an initialiser does.
#pragma once
#include "ir/graph.hpp"

namespace kasmina::ir {

// Reorders nodes and parameters into the canonical order and sets canonical_text and hash.
Graph canonicalize(Graph g);

}  // namespace kasmina::ir
