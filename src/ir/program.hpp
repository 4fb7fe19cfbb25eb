// An IR graph and its plan for one blueprint shape, flattened into words (ir/program_format.hpp)
// for the IR-interpreting CUDA kernels (kernels/morph/ir_interpret.cuh): the slow but correct
// step of the fallback chain when no generated kernel can be had (src/ops/cuda/ir_interpret.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "ir/graph.hpp"
#include "ir/plan.hpp"

namespace kasmina::ir {

// The program of `g` laid out by `plan`. Throws UserError when a node has more inputs or the
// graph more direct gradients than the program format holds.
std::vector<int32_t> make_program(const Graph& g, const Plan& plan);

}  // namespace kasmina::ir
