// The IR's op table: names and the keys each op takes.
#pragma once
#include <cstdint>
#include <string>

#include "ir/graph.hpp"

namespace kasmina::ir {

struct OpKeys {
  int32_t min_in, max_in;
  bool weight;  // linear: weight (required) and bias (optional)
  bool param;   // scale, shift: param or value (one of them)
  bool eps;     // layernorm, rmsnorm
  bool range;   // slice: from (default 0), size
  bool init;    // the node's weight or parameter may set its initialiser
};
OpKeys op_keys(Op op);
// add and mul: the order of the inputs does not change the result (the canonical form sorts).
bool commutative(Op op);

}  // namespace kasmina::ir
