// Scalar activation functions and their derivatives, written once for the CPU twins (and usable
// from CUDA code: KASMINA_HD). GELU is the tanh approximation that cuBLASLt's GELU epilogues
// compute:
//   gelu(x)  = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// (the exact derivative of that formula). ReLU's derivative is taken as 1 for x > 0, else 0.
#pragma once
#include <cmath>

#include "core/hd.hpp"

namespace kasmina::ops::cpu {

template <class T>
struct GeluConstants {
  static constexpr T sqrt_2_over_pi = static_cast<T>(0.79788456080286535587989211986876);
  static constexpr T cubic = static_cast<T>(0.044715);
};

template <class T>
KASMINA_HD T relu_value(T x) {
  return x > T(0) ? x : T(0);
}

template <class T>
KASMINA_HD T relu_derivative(T x) {
  return x > T(0) ? T(1) : T(0);
}

template <class T>
KASMINA_HD T gelu_value(T x) {
  using C = GeluConstants<T>;
  const T u = C::sqrt_2_over_pi * (x + C::cubic * x * x * x);
  return T(0.5) * x * (T(1) + std::tanh(u));
}

template <class T>
KASMINA_HD T gelu_derivative(T x) {
  using C = GeluConstants<T>;
  const T u = C::sqrt_2_over_pi * (x + C::cubic * x * x * x);
  const T t = std::tanh(u);
  const T du = C::sqrt_2_over_pi * (T(1) + T(3) * C::cubic * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
}

}  // namespace kasmina::ops::cpu
