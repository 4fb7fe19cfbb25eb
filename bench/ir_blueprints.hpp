// IR re-statements of built-in blueprints for the benchmarks that compare a generated kernel with
// the hand-written one (configs/blueprints/builtins_ir.yaml holds the same graphs).
#pragma once
#include <cstdint>

namespace kasmina::bench {

// Registers residual_mlp_ir (delta = W2 gelu(W1 x + b1) + b2, packed as residual_mlp) once per
// process and returns its kind.
int32_t residual_mlp_ir_kind();

}  // namespace kasmina::bench
