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

// A device's math mode for the life of a scope: set on construction, the one before put back on
// destruction. ops::set_math_mode is per device and process wide, so a Trainer that left its
// precision behind changed the arithmetic of whatever ran after it on that device (a bf16 run
// turned a later float32 step on the CPU into a bf16 one).
class MathModeScope {
 public:
  MathModeScope(Device dev, ops::MathMode m) : dev_(dev), before_(ops::math_mode(dev)) {
    ops::set_math_mode(dev, m);
  }
  ~MathModeScope() { ops::set_math_mode(dev_, before_); }
  MathModeScope(const MathModeScope&) = delete;
  MathModeScope& operator=(const MathModeScope&) = delete;

 private:
  Device dev_;
  ops::MathMode before_;
};

}  // namespace kasmina
