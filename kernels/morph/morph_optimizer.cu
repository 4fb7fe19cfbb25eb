// AdamW over the blueprint pool: one block per seed; seeds whose stage does not train (or whose
// last gradient was not finite) exit at once. Bytes: 16 per parameter of training seeds
// (read p, m, v, g; write p, m, v).
#include "kernels/morph/morph_kernel_common.cuh"
#include "morph/morph_adamw.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads)
    morph_adamw_kernel(SeedStateView st, PoolView<float> pool, BlueprintShape sh,
                       BlueprintOptimizer h, const float* __restrict__ grad_norm) {
  const int32_t s = blockIdx.x;
  if (!seed_takes_optimizer_step(st, s, grad_norm)) return;
  const int32_t t = st.opt_step[s] + 1;
  __syncthreads();
  if (threadIdx.x == 0) st.opt_step[s] = t;
  const AdamWStepConstants k = adamw_constants(h, t);
  const int32_t slot = st.slot[s];
  const int32_t n = optimizer_param_count(st.blueprint[s], sh, pool.region);
  float* p = pool.at(slot, PoolRegion::params);
  float* m = pool.at(slot, PoolRegion::moment1);
  float* v = pool.at(slot, PoolRegion::moment2);
  const float* g = pool.at(slot, PoolRegion::grad);
  for (int i = threadIdx.x; i < n; i += kThreads) adamw_update(h, k, p[i], m[i], v[i], g[i]);
}

}  // namespace

void morph_optimizer_step(const MorphLayerBuffers& L, const BlueprintOptimizer& h) {
  L.pool.check_dtype(DType::f32);
  morph_adamw_kernel<<<L.seeds, kThreads, 0, stream(L.device())>>>(
      morph_detail::state_view(L), morph_detail::pool_view<float>(L), L.shape, h,
      L.grad_norm.data<float>());
  KASMINA_LAUNCH_CHECK("morph_adamw_kernel");
}

}  // namespace kasmina::ops::cuda
