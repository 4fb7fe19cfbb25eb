#include "bench/seed_placement.hpp"

#include <vector>

#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/blueprint_registry.hpp"

namespace kasmina::bench {

void place_active_seeds(morph::KasminaLayer& layer, const SeedPlacement& p) {
  const ops::MorphLayerBuffers& L = layer.buffers();
  morph::HostSeedState h = morph::SeedState::initial_host_state(L.seeds);
  morph::SeedStateView v = h.view();
  std::vector<int32_t> owner(static_cast<size_t>(L.pool_slots), -1);
  std::vector<float> pool(static_cast<size_t>(L.pool.numel()), 0.0f);
  morph::PoolView<float> pv;
  pv.base = pool.data();
  pv.slots = L.pool_slots;
  pv.region = L.pool_region;
  const int32_t kind = p.kind;
  const morph::BlueprintDescriptor& d = *morph::find_blueprint(kind);
  const int32_t np = d.param_count(d, L.shape);
  int32_t slot = 0;
  for (int32_t s = 0; s < L.seeds; s += p.every, ++slot) {
    const bool grafting = p.grafting_alpha > 0.0f || slot % 2 == 1;
    v.stage[s] = static_cast<int32_t>(grafting ? morph::Stage::grafting : morph::Stage::training);
    v.alpha[s] = grafting ? (p.grafting_alpha > 0.0f ? p.grafting_alpha : 0.5f) : 0.0f;
    v.blueprint[s] = kind;
    v.slot[s] = slot;
    v.has_snapshot[s] = p.snapshots && grafting ? 1 : 0;
    owner[static_cast<size_t>(slot)] = s;
    float* w = pv.at(slot, morph::PoolRegion::params);
    for (int32_t i = 0; i < np; ++i)
      w[i] = d.init_value(d, L.shape, i, 7, 0, s) + (p.perturbation ? p.perturbation(s, i) : 0.0f);
  }
  layer.restore_state(h, owner);
  Tensor pool_t = L.pool;
  pool_t.copy_from(Tensor::from_vector(pool, {L.pool.numel()}));
}

}  // namespace kasmina::bench
