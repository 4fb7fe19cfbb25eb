// Activation forward and derivative over contiguous arrays. The switch on the activation is
// outside the loops, so each inner loop is a plain elementwise pass the compiler vectorises.
#pragma once
#include <cstdint>

#include "ops/cpu/activation_math.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops::cpu {

// y[i] = act(x[i]); x and y may be the same array.
template <class T>
void activation_values(Activation act, const T* x, T* y, int64_t n) {
  switch (act) {
    case Activation::none:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i];
      return;
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) y[i] = relu_value(x[i]);
      return;
    case Activation::gelu:
      for (int64_t i = 0; i < n; ++i) y[i] = gelu_value(x[i]);
      return;
  }
}

// dx[i] = dy[i] * act'(pre[i]); dy and dx may be the same array.
template <class T>
void activation_gradients(Activation act, const T* dy, const T* pre, T* dx, int64_t n) {
  switch (act) {
    case Activation::none:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i];
      return;
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * relu_derivative(pre[i]);
      return;
    case Activation::gelu:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * gelu_activation_derivative(pre[i]);
      return;
  }
}

}  // namespace kasmina::ops::cpu
