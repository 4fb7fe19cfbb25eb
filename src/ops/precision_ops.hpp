// Storage precision ops of `train.precision: bf16` (docs/PRECISION.md). Declared by KASMINA_OP
// (op_registry.hpp): CPU twin in src/ops/cpu/precision.cpp, kernel in kernels/precision.cu.
// The conversion itself is core/bf16.hpp, shared by both, so the CPU emulation rounds bit for
// bit as the GPU stores.
#pragma once
#include "core/tensor.hpp"
#include "ops/op_registry.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {

// dst[i] = bf16(src[i]), round to nearest, ties to even (NaN stays NaN, overflow gives ±Inf,
// subnormals round exactly). src f32, dst bf16 with the same element count (shapes may differ,
// e.g. a row range of a larger buffer viewed flat); both contiguous on one device. One pass: the
// bf16 copy of a layer's master weights, of its input, of its output gradient.
KASMINA_OP(void, cast_to_bf16, (const Tensor& src, Tensor& dst), (src, dst), src.device())

// dst[i] = src[i] widened to float32 (exact: the low 16 bits become zero). src bf16, dst f32
// with the same element count, both contiguous on one device. One pass: a bf16 result handed to
// a layer that reads float32 (a bf16 convolution's output, input gradient and weight gradient,
// nn/conv_layers.cpp).
KASMINA_OP(void, cast_from_bf16, (const Tensor& src, Tensor& dst), (src, dst), src.device())

// The activation backward of a fused linear layer as one pass that stores bf16 (the `pass`
// route of a bf16 input gradient, ops/gemm_route.hpp; kernels/activation_bf16.cu):
//   dx[m,k] = bf16(g[m,k] * act'(pre[m,k])),  pre from `aux` (make_linear_aux(M, K, act, dev,
//   float32 or bf16)),  and when dbias is non-null  dbias[k] = sum over m of dx[m,k]
// summed in fp32 over the stored bf16 values in a fixed order (the CPU twin in double), so the
// bias gradient is that of the values the layer's weight-gradient GEMM reads.
// g [M,K] is float32, or bf16 for ReLU and none (the plain GEMM stored it rounded: a ReLU
// derivative of 0 or 1 commutes with the rounding, so the result is the same bits as rounding
// the fp32 product); dx bf16 [M,K] may be g itself. dbias float32 [K].
KASMINA_OP(void, activation_backward_aux_bf16,
           (Activation act, const Tensor& g, const Tensor& aux, Tensor& dx, Tensor* dbias),
           (act, g, aux, dx, dbias), g.device())

}  // namespace kasmina::ops
