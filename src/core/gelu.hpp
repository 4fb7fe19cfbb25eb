// GELU, the tanh approximation, written once for every caller: the CPU twins, the CUDA kernels
// (KASMINA_HD) and the blueprints' per-row math. It is the formula cuBLASLt's GELU epilogues
// compute:
//   gelu(x)  = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// (the exact derivative of that formula). The order of the operations is part of the contract:
// a twin and a kernel that both call these functions round the same way.
#pragma once
#include <cmath>

#include "core/hd.hpp"

namespace kasmina {

KASMINA_HD float gelu_tanh_of(float x) {
  return tanhf(x);
}
KASMINA_HD double gelu_tanh_of(double x) {
  return tanh(x);
}

// gelu(x); when `derivative` is not null, also gelu'(x) from the same tanh.
template <class T>
KASMINA_HD T gelu(T x, T* derivative) {
  const T k = T(0.7978845608028654), c = T(0.044715);
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

}  // namespace kasmina
