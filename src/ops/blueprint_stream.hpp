// Which nodes of an IR graph the generated row functions compute inside one loop over an index
// o in [0, L) (ops/blueprint_codegen.hpp), one scalar per node and iteration, instead of as
// arrays of L registers with every loop unrolled.
//
// A blueprint's hidden layer is the usual case: in residual_mlp, W2 gelu(W1 x + b1) + b2, the
// hidden values W1 x + b1 and gelu(.) are elementwise in their index o, and W2 consumes them by
// accumulating W2[:, o] * a_o into its output. Computed as arrays, every loop is unrolled (the
// arrays live in registers only when their indices are constants), which costs O(C * h)
// instructions per row function: seconds of NVRTC time at C = 32, h = 64, and register spills.
// In the loop, the hidden values never exist as arrays: O(C) instructions per iteration.
//
// The loop's nodes S (all of output size L) are those the fixed point below leaves:
//  - a linear whose input is not in S (a dot product of a weight row with a register array),
//  - add, sub, mul whose inputs are in S or of size 1, and relu, gelu, sigmoid, tanh, silu,
//    scale, shift whose input is in S;
//  - every consumer of a value in S is in S or a linear (a "reduction": it accumulates its
//    output over o), and the graph's output is not in S;
//  - no node of S depends on a reduction or on anything computed from one (the nodes before the
//    loop, "pre", depend on no node of S; those after it, "post", on some).
// Among the loop lengths, the one whose S has the most nodes (then the longest) is taken; none
// (length 0) when no S is left.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/graph.hpp"
#include "ir/plan.hpp"

namespace kasmina::ops {

struct StreamPlan {
  int32_t length = 0;           // L; 0: no loop (every node computed as an array)
  std::vector<bool> in_loop;    // per node
  std::vector<bool> reduction;  // per node: a linear consuming a loop value (after the loop)
  std::vector<bool> post;       // per node: depends on a loop node (computed after the loop)
  bool loop_value(int32_t v) const { return v > 0 && in_loop[static_cast<size_t>(v - 1)]; }
};

StreamPlan plan_stream(const ir::Graph& g, const ir::Plan& plan);

}  // namespace kasmina::ops
