// One row of the batch gather (ops::gather_batch), shared by its own kernel (gather.cu) and the
// fused MLP step's gather phase (mlp_step.cu): row b of the batch is dataset row
// r = perm[cursor[0] * batch + b], x[b,:] = images[r,:] * scale + shift, y[b] = labels[r], by
// `threads` threads of a block (thread `tid`). 16-byte loads (uint8 x16 or float32 x4) when
// `vectorised` (the row width and the pointers allow). A perm entry outside the dataset (which
// the caller must prevent) yields a NaN row and label -1 instead of reading out of bounds.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/tensor.hpp"

namespace kasmina::kernels {

// x * scale + shift, rounded after each operation (no FMA contraction) to match the CPU twin.
__device__ __forceinline__ float gather_affine(float x, float scale, float shift) {
  return __fadd_rn(__fmul_rn(x, scale), shift);
}

__device__ __forceinline__ float4 gather_scaled(float a, float b, float c, float d, float scale,
                                                float shift) {
  return make_float4(gather_affine(a, scale, shift), gather_affine(b, scale, shift),
                     gather_affine(c, scale, shift), gather_affine(d, scale, shift));
}

template <class Pixel>
__device__ void gather_row(const Pixel* __restrict__ images, const int32_t* __restrict__ labels,
                           const int32_t* __restrict__ perm, const int64_t* __restrict__ cursor,
                           int64_t count, int64_t width, int64_t batch, float scale, float shift,
                           bool vectorised, float* __restrict__ x, int32_t* __restrict__ y,
                           int64_t b, int tid, int threads) {
  const int64_t r = perm[cursor[0] * batch + b];
  float* dst = x + b * width;
  if (r < 0 || r >= count) {
    for (int64_t j = tid; j < width; j += threads) dst[j] = NAN;
    if (tid == 0) y[b] = -1;
    return;
  }
  if (tid == 0) y[b] = labels[r];
  const Pixel* src = images + r * width;
  if (vectorised) {
    if constexpr (sizeof(Pixel) == 1) {  // 16 pixels per 16-byte load
      const auto* src16 = reinterpret_cast<const uint4*>(src);
      auto* dst4 = reinterpret_cast<float4*>(dst);
      for (int64_t q = tid; q < width / 16; q += threads) {
        const uint4 v = src16[q];
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int w = 0; w < 4; ++w) {
          const uint32_t u = words[w];
          dst4[q * 4 + w] = gather_scaled(
              static_cast<float>(u & 0xffu), static_cast<float>((u >> 8) & 0xffu),
              static_cast<float>((u >> 16) & 0xffu), static_cast<float>(u >> 24), scale, shift);
        }
      }
    } else {  // 4 floats per 16-byte load
      const auto* src4 = reinterpret_cast<const float4*>(src);
      auto* dst4 = reinterpret_cast<float4*>(dst);
      for (int64_t q = tid; q < width / 4; q += threads) {
        const float4 v = src4[q];
        dst4[q] = gather_scaled(v.x, v.y, v.z, v.w, scale, shift);
      }
    }
    return;
  }
  for (int64_t j = tid; j < width; j += threads)
    dst[j] = gather_affine(static_cast<float>(src[j]), scale, shift);
}

}  // namespace kasmina::kernels

namespace kasmina::ops::cuda {

struct GatherShape {
  int64_t count = 0, width = 0, batch = 0;  // dataset rows, row width, batch rows
  bool vectorised = false;                  // gather_row's 16-byte path applies
};

// gather_batch's argument checks (gather.cu; InternalError naming `op`) and the gather's shape.
GatherShape check_gather_batch(const char* op, const Tensor& images, const Tensor& labels,
                               const Tensor& perm, const Tensor& cursor, const Tensor& x,
                               const Tensor& y);

}  // namespace kasmina::ops::cuda
