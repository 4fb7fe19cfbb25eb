// The CPU twins' view of activations stored as E (float, double, or bf16) while they compute in
// T (the blueprint pool's type): bf16 values widen exactly to float, results round to bf16 once
// on the store (core/bf16.hpp, as the CUDA kernels round); float and double pass through.
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/bf16.hpp"

namespace kasmina::ops::cpu {

// The C values at p as T: p itself when E is T, else widened into buf.
template <class T, class E>
const T* widen_row(const E* p, int32_t C, T* buf) {
  if constexpr (std::is_same_v<E, T>) {
    return p;
  } else {
    static_assert(std::is_same_v<E, bf16> && std::is_same_v<T, float>);
    for (int32_t c = 0; c < C; ++c) buf[c] = p[c].to_float();
    return buf;
  }
}

// v stored as E.
template <class E, class T>
E narrow(T v) {
  if constexpr (std::is_same_v<E, bf16>)
    return bf16::from_float(v);
  else
    return v;
}

}  // namespace kasmina::ops::cpu
