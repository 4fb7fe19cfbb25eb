// Scalar activation functions and their derivatives for the CPU twins (usable from CUDA code:
// KASMINA_HD). GELU (the tanh approximation of cuBLASLt's GELU epilogues) comes from
// core/gelu.hpp, shared with the kernels. ReLU's derivative is taken as 1 for x > 0, else 0.
#pragma once
#include "core/gelu.hpp"
#include "core/hd.hpp"

namespace kasmina::ops::cpu {

template <class T>
KASMINA_HD T relu_value(T x) {
  return x > T(0) ? x : T(0);
}

template <class T>
KASMINA_HD T relu_derivative(T x) {
  return x > T(0) ? T(1) : T(0);
}

// GELU and its derivative (in the activation ops' grouping) are the shared ones of core/gelu.hpp.
using kasmina::gelu_activation_derivative;
using kasmina::gelu_value;

}  // namespace kasmina::ops::cpu
