// Helpers shared by the morph kernels: row loads/stores of a seed's chunk (16-byte vectors when
// the chunk width and the pointers allow it) and the dispatch of the compile-time chunk bound.
#pragma once
#include <cstdint>

#include "morph/blueprint.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda::morph_kernels {

// Loads C floats of one row chunk into registers (CMAX >= C).
template <int CMAX>
__device__ __forceinline__ void load_chunk(const float* __restrict__ src, int32_t C, bool vec,
                                           float (&v)[CMAX]) {
  if (vec) {
    const float4* s4 = reinterpret_cast<const float4*>(src);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; c += 4) {
      if (c < C) {
        const float4 q = __ldg(s4 + c / 4);
        v[c] = q.x;
        if (c + 1 < CMAX) v[c + 1] = q.y;
        if (c + 2 < CMAX) v[c + 2] = q.z;
        if (c + 3 < CMAX) v[c + 3] = q.w;
      }
    }
  } else {
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) v[c] = __ldg(src + c);
  }
}

template <int CMAX>
__device__ __forceinline__ void store_chunk(float* __restrict__ dst, int32_t C, bool vec,
                                            const float (&v)[CMAX]) {
  if (vec) {
    float4* d4 = reinterpret_cast<float4*>(dst);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; c += 4) {
      if (c < C) {
        float4 q;
        q.x = v[c];
        q.y = c + 1 < CMAX ? v[c + 1] : 0.0f;
        q.z = c + 2 < CMAX ? v[c + 2] : 0.0f;
        q.w = c + 3 < CMAX ? v[c + 3] : 0.0f;
        d4[c / 4] = q;
      }
    }
  } else {
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) dst[c] = v[c];
  }
}

// Copies the P parameters of a blueprint into shared memory, thread t taking t, t + T, ...
// (T = threads taking part); the caller synchronises before reading them.
__device__ __forceinline__ void stage_params(const float* __restrict__ src, int32_t P,
                                             float* __restrict__ smem, int t, int T) {
  for (int32_t i = t; i < P; i += T) smem[i] = src[i];
}

inline bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// Calls f.template operator()<CMAX>() with the smallest supported bound >= C.
template <class F>
void dispatch_chunk(int32_t C, F&& f) {
  if (C <= 4) return f.template operator()<4>();
  if (C <= 8) return f.template operator()<8>();
  if (C <= 16) return f.template operator()<16>();
  if (C <= 32) return f.template operator()<32>();
  static_assert(morph::kMaxChunk == 64, "dispatch_chunk covers chunks up to 64");
  return f.template operator()<64>();
}

}  // namespace kasmina::ops::cuda::morph_kernels
