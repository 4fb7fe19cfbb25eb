// The CPU emulation of bf16 GEMM inputs: a bf16 tensor widened to float32 (exact), so a CPU twin
// runs its float32 path on exactly the values the GPU's bf16 GEMM reads, accumulating in fp32 as
// cuBLASLt does with CUBLAS_COMPUTE_32F (only the order of the additions differs).
#pragma once
#include "core/tensor.hpp"

namespace kasmina::ops::cpu {

// A new float32 CPU tensor holding the values of `t`, which must be a bf16 CPU tensor (an
// InternalError naming the op and the argument otherwise).
Tensor widen_bf16(const char* op, const char* name, const Tensor& t);

}  // namespace kasmina::ops::cpu
