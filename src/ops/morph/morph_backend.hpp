// Per-device implementations of the morph ops (CPU twins in namespace cpu, CUDA launchers in
// namespace cuda), with the signatures of morph_ops.hpp.
#pragma once
#include "ops/morph/morph_ops.hpp"

#define KASMINA_MORPH_DECLARE_DEVICE_OPS                                                         \
  void morph_forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,                   \
                     const MorphForwardOptions& opt);                                            \
  void morph_backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx, \
                      bool param_grads);                                                         \
  void morph_optimizer_step(const MorphLayerBuffers& L, const morph::BlueprintOptimizer& h);     \
  void morph_lifecycle_step(const MorphLayerBuffers& L, const MorphLifecycleArgs& a,             \
                            const Tensor& step);

namespace kasmina::ops {
namespace cpu {
KASMINA_MORPH_DECLARE_DEVICE_OPS
}  // namespace cpu
namespace cuda {
KASMINA_MORPH_DECLARE_DEVICE_OPS
}  // namespace cuda
}  // namespace kasmina::ops
