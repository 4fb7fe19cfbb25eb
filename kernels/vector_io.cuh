// Loads and stores of V consecutive floats (V = 1, or 4 as one 16-byte float4 access) so that a
// kernel can be written once and instantiated vectorised when the shape and alignment allow.
#pragma once
#include <cstdint>

namespace kasmina::kernels {

template <int V>
__device__ __forceinline__ void load_floats(const float* p, int64_t i, float (&out)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    const float4 v = *reinterpret_cast<const float4*>(p + i);
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
  } else {
    out[0] = p[i];
  }
}

template <int V>
__device__ __forceinline__ void store_floats(float* p, int64_t i, const float (&in)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p + i) = make_float4(in[0], in[1], in[2], in[3]);
  } else {
    p[i] = in[0];
  }
}

}  // namespace kasmina::kernels
