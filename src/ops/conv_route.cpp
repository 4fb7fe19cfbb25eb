// The switch of the one-channel convolution kernels (conv_ops.hpp).
#include "core/env_switch.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops {

namespace {

ProcessSwitch direct_stem_switch("KASMINA_DIRECT_STEM", true);

}  // namespace

bool direct_stem_kernels() {
  return direct_stem_switch.on();
}

void set_direct_stem_kernels(bool on) {
  direct_stem_switch.set(on);
}

}  // namespace kasmina::ops
