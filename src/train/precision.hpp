// `train.precision` as the device's math mode (ops::set_math_mode): fp32 and tf32 switch the
// GEMMs' compute type; bf16 makes the linear layers feed their GEMMs bf16 copies
// (nn/bf16_gemm_inputs.hpp, docs/PRECISION.md), on CUDA and, emulated, on the CPU.
#pragma once
#include "config/config.hpp"
#include "ops/ops.hpp"

namespace kasmina {

inline ops::MathMode math_mode_of(PrecisionMode p) {
  switch (p) {
    case PrecisionMode::tf32:
      return ops::MathMode::tf32;
    case PrecisionMode::bf16:
      return ops::MathMode::bf16;
    case PrecisionMode::fp32:
      break;
  }
  return ops::MathMode::fp32;
}

}  // namespace kasmina
