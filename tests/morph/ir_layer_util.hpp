// Layers whose seeds run IR blueprints (configs/blueprints/*.yaml, registered process-wide):
// a fixed mix of stages over IR seeds and a built-in seed, for the tests of the generated seed
// kernels (on the host, test_ir_seed_kernels.cpp; on a GPU, test_ir_cuda.cpp).
#pragma once
#include <cstdlib>
#include <string>
#include <vector>

#include "config/blueprints.hpp"
#include "ir/blueprint.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph::testing {

// Registers blueprint `name` of configs/blueprints/<file> and returns its kind.
inline int32_t register_ir(const std::string& file, const std::string& name) {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  for (const ir::Graph& g :
       load_blueprint_file(std::string(root ? root : ".") + "/configs/blueprints/" + file))
    if (g.name == name) return ir::register_graph(g);
  ADD_FAILURE() << name << " not in " << file;
  return -1;
}

inline BlueprintKind as_kind(int32_t k) {
  return static_cast<BlueprintKind>(k);
}

// Every stage an IR seed of kind `ir` can be in while it computes, a built-in seed beside them
// and a dormant one: seeds 0..7.
inline std::vector<SeedSetup> ir_stage_mix(int32_t ir) {
  const BlueprintKind k = as_kind(ir);
  return {{0, Stage::grafting, k, 0.6f},
          {1, Stage::fine_tuning, k, 1.0f},
          {2, Stage::training, k, 0.0f},
          {3, Stage::stabilization, k, 0.8f},
          {4, Stage::grafting, BlueprintKind::residual_mlp, 0.5f},
          {5, Stage::dormant, k, 0.0f},
          {6, Stage::evaluating, k, 0.3f},
          {7, Stage::fossilized, k, 1.0f}};
}

// arrange() draws parameters for the built-ins only: the IR seeds' slots get theirs here
// (normal, scale 0.3; deterministic).
inline void randomize_registered_params(KasminaLayer& layer, uint64_t seed) {
  const ops::MorphLayerBuffers& L = layer.buffers();
  HostSeedState h = layer.seed_state().download();
  const SeedStateView v = h.view();
  std::vector<float> pool = L.pool.to_vector<float>();
  PoolView<float> pv;
  pv.base = pool.data();
  pv.slots = L.pool_slots;
  pv.region = L.pool_region;
  Rng rng(seed);
  for (int32_t s = 0; s < L.seeds; ++s) {
    const int32_t kind = v.blueprint[s], slot = v.slot[s];
    const BlueprintDescriptor* d = find_blueprint(kind);
    if (slot < 0 || !d || d->in_fused_kernels) continue;
    float* p = pv.at(slot, PoolRegion::params);
    for (int32_t i = 0; i < registered_param_count(kind, L.shape); ++i)
      p[i] = static_cast<float>(0.3 * rng.normal());
  }
  Tensor t = L.pool;
  t.copy_from(Tensor::from_vector(pool, {L.pool.numel()}));
}

// A layer of 8 seeds of chunk C allowing residual_mlp and `kinds`, arranged by ir_stage_mix with
// random parameters (jitter 0.3 around the initial values), and its inputs.
struct IrRig {
  IrRig(const std::vector<int32_t>& kinds, int32_t C, int64_t B, Device dev, int32_t mix_kind)
      : cfg(config(kinds, C)), layer(cfg) {
    layer.prepare(B, dev);
    arrange(layer, ir_stage_mix(mix_kind), 5, 0.3);
    randomize_registered_params(layer, 6);
    x = random_tensor<float>({B, cfg.width}, 91, dev);
    dy = random_tensor<float>({B, cfg.width}, 92, dev);
    out = Tensor::zeros({B, cfg.width}, DType::f32, dev);
    dx = Tensor::zeros({B, cfg.width}, DType::f32, dev);
  }
  static MorphConfig config(const std::vector<int32_t>& kinds, int32_t C) {
    MorphConfig c = small_config(8 * C, 8, 8);
    c.hidden = 4;
    c.rank = 3;
    c.allowed_blueprints = {BlueprintKind::residual_mlp};
    for (int32_t k : kinds)
      if (as_kind(k) != BlueprintKind::residual_mlp) c.allowed_blueprints.push_back(as_kind(k));
    return c;
  }
  MorphConfig cfg;
  KasminaLayer layer;
  Tensor x, dy, out, dx;
};

}  // namespace kasmina::morph::testing
