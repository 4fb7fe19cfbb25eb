// What the twins of residual_add share (the twins themselves are declared by its KASMINA_OP_TWINS
// line: the CPU twin in namespace cpu, the CUDA launcher in namespace cuda, kernels/residual/).
#pragma once
#include "ops/residual/residual_add.hpp"

namespace kasmina::ops {
// Argument checks shared by both twins (InternalError for a malformed call).
void check_residual_add_args(const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace kasmina::ops
