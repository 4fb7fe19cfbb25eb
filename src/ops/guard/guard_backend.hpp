// Per-device implementations of the loss-guard ops (CPU twins in namespace cpu, CUDA launchers
// in namespace cuda), declared by the KASMINA_OP_TWINS lines of loss_guard.hpp, and the argument
// checks both share.
#pragma once
#include "ops/guard/loss_guard.hpp"

namespace kasmina::ops {
// Argument checks shared by both twins (InternalError for a malformed call).
void check_loss_guard_args(const char* op, const Tensor& loss_sum, const LossGuardState& st,
                           const Tensor* dlogits);

}  // namespace kasmina::ops
