// An IR graph laid out for one layer's blueprint shape: every value's size and place in a row's
// scratch buffer, every parameter's place in the packed parameter vector (canonical order), and
// the gradient layout the seam asks for (blueprint_layout.hpp): the row's factors
// F = [1, x, g, hidden...] and one block of factor products per parameter:
//   linear weight W[o][i]: outer(d out, in); bias b[o]: outer(d out, 1);
//   scale s[n]: diag(d out, in); shift t[n]: outer(d out, 1);
//   a [1] scale or shift: its whole per-row gradient as one hidden factor, times 1.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/graph.hpp"
#include "morph/blueprint_layout.hpp"

namespace kasmina::ir {

struct FactorRef {
  enum class Kind : int32_t { value, grad, direct } kind;
  int32_t id;  // value id (value, grad) or parameter id (direct)
};

struct Plan {
  morph::BlueprintShape shape;
  std::vector<int32_t> size, offset;  // per value
  int32_t scratch = 0;                // values of one row
  std::vector<int32_t> param_offset, param_size;
  int32_t param_count = 0;
  std::vector<FactorRef> hidden;       // F[1 + 2C + j]
  std::vector<int32_t> value_factor;   // per value: its index in F, or -1
  std::vector<int32_t> grad_factor;    // per value: the index of its gradient in F, or -1
  std::vector<int32_t> direct_factor;  // per parameter: its whole gradient's index, or -1
  int32_t factor_count = 0;
  std::vector<morph::GradBlock> blocks;  // one per parameter, in parameter order

  // Parameter i's id (the parameter holding packed index i).
  int32_t param_at(int32_t i) const;
};

// Throws UserError when the graph does not fit this shape (a size below 1, a slice past its
// input's end, too many factors).
Plan make_plan(const Graph& g, const morph::BlueprintShape& sh);
// The fan_in of parameter p for its initialiser: its last dimension.
int64_t fan_in(const Plan& plan, const Graph& g, int32_t p);

}  // namespace kasmina::ir
