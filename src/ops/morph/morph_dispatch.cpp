// Routes the morph ops to the CPU twin or the CUDA launcher by the layer's device.
#include "ops/morph/morph_backend.hpp"
#include "ops/route.hpp"

namespace kasmina::ops {

void morph_forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                   const MorphForwardOptions& opt) {
  KASMINA_ROUTE(L.device(), morph_forward, L, x, out, opt);
}
void morph_backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                    bool param_grads) {
  KASMINA_ROUTE(L.device(), morph_backward, L, x, dy, dx, param_grads);
}
void morph_optimizer_step(const MorphLayerBuffers& L, const morph::BlueprintOptimizer& h) {
  KASMINA_ROUTE(L.device(), morph_optimizer_step, L, h);
}
void morph_lifecycle_step(const MorphLayerBuffers& L, const MorphLifecycleArgs& a,
                          const Tensor& step) {
  KASMINA_ROUTE(L.device(), morph_lifecycle_step, L, a, step);
}

}  // namespace kasmina::ops
