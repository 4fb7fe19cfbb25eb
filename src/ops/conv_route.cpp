// The switch of the one-channel convolution kernels (conv_ops.hpp).
#include "core/env_switch.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops {

namespace {

bool& direct_stem_flag() {
  static bool on = env_switch("KASMINA_DIRECT_STEM", false);
  return on;
}

}  // namespace

bool direct_stem_kernels() {
  return direct_stem_flag();
}

void set_direct_stem_kernels(bool on) {
  direct_stem_flag() = on;
}

}  // namespace kasmina::ops
