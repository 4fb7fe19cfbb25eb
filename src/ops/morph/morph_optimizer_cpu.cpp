// CPU twin of morph_optimizer_step (AdamW over the blueprint pool).
#include <cmath>

#include "morph/blueprint.hpp"
#include "morph/morph_adamw.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cpu {

namespace {

using namespace kasmina::morph;

template <class T>
void optimizer_impl(const MorphLayerBuffers& L, const BlueprintOptimizer& h) {
  const SeedStateView st = morph_detail::state_view(L);
  const PoolView<T> pool = morph_detail::pool_view<T>(L);
  const float* gnorm = L.grad_norm.data<float>();
  for (int32_t s = 0; s < L.seeds; ++s) {
    if (!seed_takes_optimizer_step(st, s, gnorm)) continue;
    const int32_t slot = st.slot[s];
    const int32_t t = ++st.opt_step[s];
    const AdamWStepConstants k = adamw_constants(h, t);
    const int32_t n = optimizer_param_count(st.blueprint[s], L.shape, pool.region);
    T* p = pool.at(slot, PoolRegion::params);
    T* m = pool.at(slot, PoolRegion::moment1);
    T* v = pool.at(slot, PoolRegion::moment2);
    const T* g = pool.at(slot, PoolRegion::grad);
    for (int32_t i = 0; i < n; ++i) adamw_update(h, k, p[i], m[i], v[i], g[i]);
  }
}

}  // namespace

void morph_optimizer_step(const MorphLayerBuffers& L, const BlueprintOptimizer& h) {
  if (L.pool.dtype() == DType::f64) return optimizer_impl<double>(L, h);
  L.pool.check_dtype(DType::f32);
  optimizer_impl<float>(L, h);
}

}  // namespace kasmina::ops::cpu
