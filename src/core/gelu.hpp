// GELU, the tanh approximation, written once for every caller: the CPU twins, the CUDA kernels
// (KASMINA_HD) and the blueprints' per-row math. It is the formula cuBLASLt's GELU epilogues
// compute:
//   gelu(x)  = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// (the exact derivative of that formula). The order of the operations is part of the contract:
// a twin and a kernel that both call these functions round the same way. Two callers group the
// derivative's last product differently and each keeps its rounding: the blueprints (gelu with
// a derivative pointer: ((0.5 x (1 - t^2)) k) (1 + 3 c x^2)) and the activation ops
// (gelu_activation_derivative: (0.5 x (1 - t^2)) (k (1 + 3 c x^2))).
#pragma once
#include <cmath>

#include "core/hd.hpp"

namespace kasmina {

// Analytic FLOPs per element (training-FLOP counts): the forward counts the operations of gelu()
// (c x x x, +, k *, tanh, 1 +, 0.5 x, *); the backward those of the derivative from the
// forward's tanh (13) and the product with the incoming gradient.
inline constexpr int kGeluForwardFlops = 9;
inline constexpr int kGeluBackwardFlops = 14;

// The GELU constants: k = sqrt(2/pi), c = 0.044715.
template <class T>
struct GeluConstants {
  static constexpr T k = T(0.7978845608028654);
  static constexpr T c = T(0.044715);
};

KASMINA_HD float gelu_tanh_of(float x) {
  return tanhf(x);
}
KASMINA_HD double gelu_tanh_of(double x) {
  return tanh(x);
}

// gelu(x); when `derivative` is not null, also gelu'(x) from the same tanh.
template <class T>
KASMINA_HD T gelu(T x, T* derivative) {
  const T k = GeluConstants<T>::k, c = GeluConstants<T>::c;
  const T inner = k * (x + c * x * x * x);
  const T t = gelu_tanh_of(inner);
  if (derivative) {
    *derivative = T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * c * x * x);
  }
  return T(0.5) * x * (T(1) + t);
}

template <class T>
KASMINA_HD T gelu_value(T x) {
  return gelu<T>(x, nullptr);
}

template <class T>
KASMINA_HD T gelu_derivative(T x) {
  T d;
  gelu<T>(x, &d);
  return d;
}

// gelu'(x) in the grouping of the activation ops (CPU twin and CUDA kernel of
// activation_backward and the fused linear epilogues): du = k (1 + 3 c x^2) is formed first.
template <class T>
KASMINA_HD T gelu_activation_derivative(T x) {
  const T k = GeluConstants<T>::k, c = GeluConstants<T>::c;
  const T u = k * (x + c * x * x * x);
  const T t = gelu_tanh_of(u);
  const T du = k * (T(1) + T(3) * c * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
}

}  // namespace kasmina
