// prepare_blueprint_module (the CUDA half: src/ops/cuda/ir_module.cpp) and the initialiser table
// of the CUDA lifecycle kernel.
#include "ops/morph/blueprint_module.hpp"

#include <cstring>

#include "ir/blueprint.hpp"
#include "kasmina_build_config.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops {

PreparedModule prepare_blueprint_module(const morph::BlueprintDescriptor& d,
                                        const morph::BlueprintShape& sh, Device dev,
                                        int64_t max_batch, int32_t seeds, int32_t pool_slots) {
  PreparedModule out;
  const ir::IrBlueprint* bp = ir::ir_blueprint_of(d);
  if (!bp) {
    out.why = "'" + d.name + "' has no device code (not an IR blueprint)";
    return out;
  }
#if KASMINA_HAS_CUDA
  return load_ir_module(*bp, d.kind, sh, dev, max_batch, seeds, pool_slots);
#else
  (void)sh;
  (void)dev;
  (void)max_batch;
  (void)seeds;
  (void)pool_slots;
  out.why = "this build has no CUDA";
  return out;
#endif
}

#if !KASMINA_HAS_CUDA
double time_module_load(std::shared_ptr<const std::string>,
                        std::vector<std::shared_ptr<const void>>*) {
  return -1.0;
}
#endif

IrSeedArgs seed_kernel_args(const MorphLayerBuffers& L, int32_t kind, const Tensor& x) {
  const morph::SeedStateView st = morph_detail::state_view(L);
  const morph::PoolView<float> pool = morph_detail::pool_view<float>(L);
  IrSeedArgs a;
  a.x = x.data<float>();
  a.stage = st.stage;
  a.blueprint = st.blueprint;
  a.slot = st.slot;
  a.alpha = st.alpha;
  a.pool = pool.base;
  a.step_stats = L.step_stats.data<float>();
  a.grad_norm = L.grad_norm.data<float>();
  a.owner = pool.owner;
  a.B = x.dim(0);
  a.H = morph_detail::morph_width(L);
  a.slot_stride = pool.slot_stride();
  a.region = pool.region;
  a.seeds = L.seeds;
  a.kind = kind;
  a.slots = pool.slots;
  return a;
}

IrSeedArgs backward_seed_kernel_args(const MorphLayerBuffers& L, int32_t kind, const Tensor& x,
                                     const Tensor& dy, Tensor* dx, bool param_grads) {
  IrSeedArgs a = seed_kernel_args(L, kind, x);
  a.dy = dy.data<float>();
  a.out = dx ? dx->data<float>() : nullptr;
  a.param_grads = param_grads ? 1 : 0;
  a.task =
      L.training_objective == static_cast<int32_t>(morph::TrainingObjective::task_gradient) ? 1 : 0;
  return a;
}

Tensor registered_init_table(const std::vector<int32_t>& kinds, const morph::BlueprintShape& sh,
                             Device dev) {
  std::vector<int32_t> t(2 * morph::kMaxBlueprintKinds, -1);
  for (int32_t k = 0; k < morph::kMaxBlueprintKinds; ++k) t[2 * k + 1] = 0;
  bool any = false;
  for (int32_t kind : kinds) {
    const morph::BlueprintDescriptor* d = morph::find_blueprint(kind);
    const ir::IrBlueprint* bp = d ? ir::ir_blueprint_of(*d) : nullptr;
    if (!bp || kind < 0 || kind >= morph::kMaxBlueprintKinds) continue;
    const ir::Plan& plan = bp->plan(sh);
    const ir::Graph& g = bp->graph();
    t[2 * kind] = static_cast<int32_t>(t.size());
    t[2 * kind + 1] = plan.param_count;
    for (int32_t i = 0; i < plan.param_count; ++i) {
      const int32_t p = plan.param_at(i);
      const ir::Init init = p >= 0 ? g.params[static_cast<size_t>(p)].init : ir::Init{};
      const float a = static_cast<float>(init.a);
      int32_t bits = 0;
      std::memcpy(&bits, &a, sizeof bits);
      t.push_back(static_cast<int32_t>(init.kind));
      t.push_back(bits);
      t.push_back(p >= 0 ? static_cast<int32_t>(ir::fan_in(plan, g, p)) : 1);
    }
    any = true;
  }
  if (!any) return Tensor();
  return Tensor::from_vector(t, {static_cast<int64_t>(t.size())}, dev);
}

}  // namespace kasmina::ops
