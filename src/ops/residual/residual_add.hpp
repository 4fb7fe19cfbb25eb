// The sum of a residual connection: out = a + b elementwise (a residual block's output is its
// input plus its body's output; its input gradient is the output gradient plus the body's input
// gradient). a, b, out: same shape, float32 or float64 (CUDA: float32), one device; out may be
// a or b. Beside a float32 out, a and b may each be bf16 (a bf16 convolution's input gradient),
// widened exactly on the load, so the sum is the one of a widened copy without the copy. Each
// element is one correctly rounded addition, so CPU and CUDA agree exactly.
// Registered with KASMINA_OP_TWINS (op_registry.hpp): the public function checks its arguments
// before routing (residual_add_dispatch.cpp).
#pragma once
#include "core/tensor.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::ops {

KASMINA_OP_TWINS(void, residual_add, (const Tensor& a, const Tensor& b, Tensor& out))
void residual_add(const Tensor& a, const Tensor& b, Tensor& out);

}  // namespace kasmina::ops
