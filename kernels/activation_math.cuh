// Device-side activation functions (GELU from core/gelu.hpp, shared with the CPU twins), their
// derivatives and the ReLU bit-mask layout of cuBLASLt's RELU_AUX epilogues (one bit per
// element, column-major in cuBLASLt's view, i.e. one row of our row-major output per mask row of
// aux_ld bits; bit j of a row lives in byte j / 8 at bit position j % 8).
#pragma once
#include <cstdint>

#include "core/gelu.hpp"
#include "ops/ops.hpp"

namespace kasmina::kernels {

__device__ __forceinline__ float activation_value(ops::Activation act, float x) {
  switch (act) {
    case ops::Activation::relu:
      return x > 0.0f ? x : 0.0f;
    case ops::Activation::gelu:
      return kasmina::gelu_value(x);
    default:
      return x;
  }
}

__device__ __forceinline__ float activation_derivative(ops::Activation act, float x) {
  switch (act) {
    case ops::Activation::relu:
      return x > 0.0f ? 1.0f : 0.0f;
    case ops::Activation::gelu:
      return kasmina::gelu_activation_derivative(x);
    default:
      return 1.0f;
  }
}

// ReLU mask bit of element (row, col) of a mask with `ld` bits per row.
__device__ __forceinline__ bool relu_mask_bit(const uint8_t* mask, int64_t ld, int64_t row,
                                              int64_t col) {
  const int64_t bit = row * ld + col;
  return (mask[bit >> 3] >> (bit & 7)) & 1u;
}

}  // namespace kasmina::kernels
