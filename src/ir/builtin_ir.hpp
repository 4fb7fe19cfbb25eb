// The three built-in blueprints restated in the IR, built here from their specs (the same graphs
// as configs/blueprints/builtins_ir.yaml, which a test checks hash alike). An IR blueprint whose
// canonical hash is one of theirs computes what that built-in computes, with its parameters
// packed as the built-in packs them (the canonical order; tests/morph/test_ir_cuda.cpp checks the
// restatements against the hand-written kernels), so when its generated kernels cannot be had
// its seeds can run the built-in's ahead-of-time kernels (the fallback chain of
// ops/ir_backend.hpp) instead of the slow IR-interpreting ones.
#pragma once
#include <cstdint>

#include "ir/graph.hpp"

namespace kasmina::ir {

// The built-in kind (morph::BlueprintKind) `g` restates, by canonical hash; -1 when none.
int32_t builtin_restated_by(const Graph& g);

}  // namespace kasmina::ir
