// Loads and stores of V consecutive elements (V = 1, or 4 as one vector access: float4 for
// floats, uchar4 for bytes, 8 bytes for bf16) so that a kernel can be written once and
// instantiated vectorised when the shape and alignment allow. load_floats / store_floats also
// take bf16 storage (core/bf16.hpp): widened exactly on the load, rounded to nearest-even on the
// store, so one kernel body serves float32 and bf16 maps.
#pragma once
#include <cstdint>

#include "core/bf16.hpp"

namespace kasmina::kernels {

// The CUDA vector type of four T.
template <class T>
struct Vec4;
template <>
struct Vec4<float> {
  using type = float4;
  static __device__ __forceinline__ float4 make(float a, float b, float c, float d) {
    return make_float4(a, b, c, d);
  }
};
template <>
struct Vec4<uint8_t> {
  using type = uchar4;
  static __device__ __forceinline__ uchar4 make(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return make_uchar4(a, b, c, d);
  }
};

template <int V, class T>
__device__ __forceinline__ void load_vec(const T* p, int64_t i, T (&out)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    const typename Vec4<T>::type v = *reinterpret_cast<const typename Vec4<T>::type*>(p + i);
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
  } else {
    out[0] = p[i];
  }
}

template <int V, class T>
__device__ __forceinline__ void store_vec(T* p, int64_t i, const T (&in)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    *reinterpret_cast<typename Vec4<T>::type*>(p + i) = Vec4<T>::make(in[0], in[1], in[2], in[3]);
  } else {
    p[i] = in[0];
  }
}

template <int V>
__device__ __forceinline__ void load_floats(const float* p, int64_t i, float (&out)[V]) {
  load_vec<V>(p, i, out);
}

template <int V>
__device__ __forceinline__ void store_floats(float* p, int64_t i, const float (&in)[V]) {
  store_vec<V>(p, i, in);
}

// bf16 storage: V = 4 is one 8-byte access (p + i 8-byte aligned).
template <int V>
__device__ __forceinline__ void load_floats(const bf16* p, int64_t i, float (&out)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    const uint2 w = *reinterpret_cast<const uint2*>(p + i);
    out[0] = bf16x2_low(w.x);
    out[1] = bf16x2_high(w.x);
    out[2] = bf16x2_low(w.y);
    out[3] = bf16x2_high(w.y);
  } else {
    out[0] = p[i].to_float();
  }
}

template <int V>
__device__ __forceinline__ void store_floats(bf16* p, int64_t i, const float (&in)[V]) {
  static_assert(V == 1 || V == 4, "V must be 1 or 4");
  if constexpr (V == 4) {
    uint2 w;
    w.x = bf16x2_pack(float_to_bf16_bits(in[0]), float_to_bf16_bits(in[1]));
    w.y = bf16x2_pack(float_to_bf16_bits(in[2]), float_to_bf16_bits(in[3]));
    *reinterpret_cast<uint2*>(p + i) = w;
  } else {
    p[i] = bf16::from_float(in[0]);
  }
}

// One element as a float (float32 as it is, bf16 widened).
__device__ __forceinline__ float load_float(const float* p, int64_t i) {
  return p[i];
}
__device__ __forceinline__ float load_float(const bf16* p, int64_t i) {
  return p[i].to_float();
}

// One float result stored as the element type (bf16 rounded to nearest-even).
__device__ __forceinline__ void store_float(float* p, int64_t i, float v) {
  p[i] = v;
}
__device__ __forceinline__ void store_float(bf16* p, int64_t i, float v) {
  p[i] = bf16::from_float(v);
}

}  // namespace kasmina::kernels
