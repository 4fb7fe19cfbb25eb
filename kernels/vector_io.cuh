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

// Loads and stores of V consecutive bytes (V = 4 as one 4-byte uchar4 access).
template <int V>
__device__ __forceinline__ void load_bytes(const uint8_t* p, int64_t i, uint8_t (&out)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    const uchar4 v = *reinterpret_cast<const uchar4*>(p + i);
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
  } else {
    out[0] = p[i];
  }
}

template <int V>
__device__ __forceinline__ void store_bytes(uint8_t* p, int64_t i, const uint8_t (&in)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    *reinterpret_cast<uchar4*>(p + i) = make_uchar4(in[0], in[1], in[2], in[3]);
  } else {
    p[i] = in[0];
  }
}

// Calls fn(i0) for the first element i0 of every whole group of V elements among n, in a
// grid-stride loop over the launch's threads.
template <int V, class Fn>
__device__ __forceinline__ void for_each_group(int64_t n, Fn&& fn) {
  const int64_t groups = n / V;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += stride)
    fn(g * V);
}

}  // namespace kasmina::kernels
