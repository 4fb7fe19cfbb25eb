// The switches of the CUDA convolutions' routes (conv_ops.hpp): the one-channel kernels, the
// 1x1 weight gradient as a GEMM.
#include "core/env_switch.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops {

namespace {

ProcessSwitch direct_stem_switch("KASMINA_DIRECT_STEM", true);
ProcessSwitch gemm_wgrad_switch("KASMINA_CONV_GEMM_WGRAD", false);

}  // namespace

bool direct_stem_kernels() {
  return direct_stem_switch.on();
}

void set_direct_stem_kernels(bool on) {
  direct_stem_switch.set(on);
}

bool gemm_weight_gradients() {
  return gemm_wgrad_switch.on();
}

void set_gemm_weight_gradients(bool on) {
  gemm_wgrad_switch.set(on);
}

}  // namespace kasmina::ops
