// Per-device implementations of the loss-guard ops (CPU twins in namespace cpu, CUDA launchers
// in namespace cuda) with the signatures of loss_guard.hpp.
#pragma once
#include "ops/guard/loss_guard.hpp"

#define KASMINA_GUARD_DECLARE_DEVICE_OPS                                                         \
  void loss_guard(Tensor& loss_sum, int64_t batch, const LossGuardParams& p, LossGuardState& st, \
                  Tensor* dlogits);                                                              \
  void inject_nan_at_step(const Tensor& step, int64_t nan_step, Tensor& loss_sum, Tensor* dlogits);

namespace kasmina::ops {
namespace cpu {
KASMINA_GUARD_DECLARE_DEVICE_OPS
}  // namespace cpu
namespace cuda {
KASMINA_GUARD_DECLARE_DEVICE_OPS
}  // namespace cuda

// Argument checks shared by both twins (InternalError for a malformed call).
void check_loss_guard_args(const char* op, const Tensor& loss_sum, const LossGuardState& st,
                           const Tensor* dlogits);

}  // namespace kasmina::ops
