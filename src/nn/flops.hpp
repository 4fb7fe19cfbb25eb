// The analytic FLOP formulas the layers share (training-FLOP counts, Layer::train_flops): 2 per
// multiply-add, 1 per elementwise operation. A layer type keeps its own formula beside it and
// uses these for the common parts.
#pragma once
#include <cstdint>

#include "core/gelu.hpp"
#include "ops/ops.hpp"

namespace kasmina::flops {

// A GEMM of an [m, k] by a [k, n] matrix.
inline double gemm(int64_t m, int64_t k, int64_t n) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
}

// An activation over `elements` values: relu max(0, x) forward and its select backward (1 each);
// gelu core/gelu.hpp's counts; none 0.
inline double activation(ops::Activation act, double elements, bool backward) {
  switch (act) {
    case ops::Activation::relu:
      return elements;
    case ops::Activation::gelu:
      return elements * (backward ? kGeluBackwardFlops : kGeluForwardFlops);
    default:
      return 0.0;
  }
}

}  // namespace kasmina::flops
