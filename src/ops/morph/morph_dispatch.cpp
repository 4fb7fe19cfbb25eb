// Routes the morph ops to the CPU twin or the CUDA launcher by the layer's device.
#include "kasmina_build_config.hpp"
#include "ops/morph/morph_backend.hpp"

namespace kasmina::ops {

#if KASMINA_HAS_CUDA
#define KASMINA_MORPH_ROUTE(dev, name, ...) \
  do {                                      \
    if ((dev).is_cpu()) {                   \
      return cpu::name(__VA_ARGS__);        \
    }                                       \
    return cuda::name(__VA_ARGS__);         \
  } while (0)
#else
namespace {

[[noreturn]] void no_cuda(const char* op) {
  throw UserError(std::string(op) +
                  ": this kasmina build has no CUDA support (rebuild with -Dcuda=enabled)");
}

}  // namespace

#define KASMINA_MORPH_ROUTE(dev, name, ...) \
  do {                                      \
    if ((dev).is_cpu()) {                   \
      return cpu::name(__VA_ARGS__);        \
    }                                       \
    no_cuda(#name);                         \
  } while (0)
#endif

void morph_forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                   const MorphForwardOptions& opt) {
  KASMINA_MORPH_ROUTE(L.device(), morph_forward, L, x, out, opt);
}
void morph_backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                    bool param_grads) {
  KASMINA_MORPH_ROUTE(L.device(), morph_backward, L, x, dy, dx, param_grads);
}
void morph_optimizer_step(const MorphLayerBuffers& L, const morph::BlueprintOptimizer& h) {
  KASMINA_MORPH_ROUTE(L.device(), morph_optimizer_step, L, h);
}
void morph_lifecycle_step(const MorphLayerBuffers& L, const MorphLifecycleArgs& a,
                          const Tensor& step) {
  KASMINA_MORPH_ROUTE(L.device(), morph_lifecycle_step, L, a, step);
}

}  // namespace kasmina::ops
