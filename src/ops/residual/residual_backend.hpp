// Per-device implementations of residual_add (CPU twin in namespace cpu, CUDA launcher in
// namespace cuda, kernels/residual/) with the signature of residual_add.hpp.
#pragma once
#include "ops/residual/residual_add.hpp"

namespace kasmina::ops {
namespace cpu {
void residual_add(const Tensor& a, const Tensor& b, Tensor& out);
}  // namespace cpu
namespace cuda {
void residual_add(const Tensor& a, const Tensor& b, Tensor& out);
}  // namespace cuda

// Argument checks shared by both twins (InternalError for a malformed call).
void check_residual_add_args(const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace kasmina::ops
