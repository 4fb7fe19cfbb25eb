// Storage precision ops of `train.precision: bf16` (docs/PRECISION.md). Declared by KASMINA_OP
// (op_registry.hpp): CPU twin in src/ops/cpu/precision.cpp, kernel in kernels/precision.cu.
// The conversion itself is core/bf16.hpp, shared by both, so the CPU emulation rounds bit for
// bit as the GPU stores.
#pragma once
#include "core/tensor.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::ops {

// dst[i] = bf16(src[i]), round to nearest, ties to even (NaN stays NaN, overflow gives ±Inf,
// subnormals round exactly). src f32, dst bf16 with the same element count (shapes may differ,
// e.g. a row range of a larger buffer viewed flat); both contiguous on one device. One pass: the
// bf16 copy of a layer's master weights, of its input, of its output gradient.
KASMINA_OP(void, cast_to_bf16, (const Tensor& src, Tensor& dst), (src, dst), src.device())

}  // namespace kasmina::ops
