// Launch helpers of the channel-wise elementwise kernels over [R, C] (batchnorm, the fused
// residual tail; namespace kasmina::kernels): the vector width V (4 consecutive channels per
// thread, 16-byte accesses, when C % 4 == 0 and every pointer is 16-byte aligned; else 1) and the
// index type (uint32_t when the element count fits in 31 bits, so a grid-stride index never
// wraps and the channel e % C is a 32-bit remainder, else int64_t).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "core/bf16.hpp"

namespace kasmina::kernels {

inline int channel_vector_width(int64_t cols, std::initializer_list<const void*> ptrs) {
  if (cols % 4 != 0) return 1;
  for (const void* p : ptrs)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) return 1;
  return 4;
}

// Calls launch(std::integral_constant<int, V>, Index{}) for V = v and the index type of n.
template <class Launch>
void by_width_and_index(int v, int64_t n, Launch launch) {
  const bool narrow = n <= static_cast<int64_t>(INT32_MAX);  // i + stride stays below 2^32
  if (v == 4) {
    if (narrow) {
      launch(std::integral_constant<int, 4>{}, uint32_t{});
    } else {
      launch(std::integral_constant<int, 4>{}, int64_t{});
    }
  } else if (narrow) {
    launch(std::integral_constant<int, 1>{}, uint32_t{});
  } else {
    launch(std::integral_constant<int, 1>{}, int64_t{});
  }
}

// Calls fn(A{}, B{}) with A, B = float or bf16 as a16, b16 say: the element types of two maps
// that are each float32 or bf16 storage (batchnorm's input and output sides, a fused tail's two
// normalisation inputs).
template <class Fn>
void by_storage_pair(bool a16, bool b16, Fn fn) {
  if (!a16 && !b16) {
    fn(float{}, float{});
  } else if (a16 && b16) {
    fn(bf16{}, bf16{});
  } else if (a16) {
    fn(bf16{}, float{});
  } else {
    fn(float{}, bf16{});
  }
}

}  // namespace kasmina::kernels
