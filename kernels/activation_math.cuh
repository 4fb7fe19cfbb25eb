// Device-side activation functions, their derivatives and the ReLU bit-mask layout of
// cuBLASLt's RELU_AUX epilogues (one bit per element, column-major in cuBLASLt's view, i.e. one
// row of our row-major output per mask row of aux_ld bits; bit j of a row lives in byte j / 8 at
// bit position j % 8).
#pragma once
#include <cstdint>

#include "ops/ops.hpp"

namespace kasmina::kernels {

constexpr float kGeluSqrt2OverPi = 0.79788456080286535587989211986876f;
constexpr float kGeluCubic = 0.044715f;

__device__ __forceinline__ float gelu_value(float x) {
  const float u = kGeluSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}

__device__ __forceinline__ float gelu_derivative(float x) {
  const float u = kGeluSqrt2OverPi * (x + kGeluCubic * x * x * x);
  const float t = tanhf(u);
  const float du = kGeluSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

__device__ __forceinline__ float activation_value(ops::Activation act, float x) {
  switch (act) {
    case ops::Activation::relu:
      return x > 0.0f ? x : 0.0f;
    case ops::Activation::gelu:
      return gelu_value(x);
    default:
      return x;
  }
}

__device__ __forceinline__ float activation_derivative(ops::Activation act, float x) {
  switch (act) {
    case ops::Activation::relu:
      return x > 0.0f ? 1.0f : 0.0f;
    case ops::Activation::gelu:
      return gelu_derivative(x);
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
