#include "ir/blueprint.hpp"

#include "core/error.hpp"
#include "ir/interpreter.hpp"

namespace kasmina::ir {

namespace {

bool same_shape(const morph::BlueprintShape& a, const morph::BlueprintShape& b) {
  return a.chunk == b.chunk && a.hidden == b.hidden && a.rank == b.rank;
}

const IrBlueprint& of(const morph::BlueprintDescriptor& d) {
  return *static_cast<const IrBlueprint*>(d.data.get());
}

// The plan for (d, sh), remembered per thread for the row functions' hot path.
const Plan& plan_of(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh) {
  thread_local const void* last_bp = nullptr;
  thread_local morph::BlueprintShape last_shape;
  thread_local const Plan* last_plan = nullptr;
  if (last_bp != d.data.get() || !same_shape(last_shape, sh)) {
    last_plan = &of(d).plan(sh);
    last_bp = d.data.get();
    last_shape = sh;
  }
  return *last_plan;
}

int32_t param_count(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh) {
  return plan_of(d, sh).param_count;
}

float init_value(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh, int32_t i,
                 uint64_t run_seed, int32_t layer, int32_t seed) {
  const Plan& plan = plan_of(d, sh);
  const int32_t p = plan.param_at(i);
  if (p < 0) return 0.0f;
  const Graph& g = of(d).graph();
  return ir::init_value(g.params[static_cast<size_t>(p)].init,
                        morph::init_uniform(i, run_seed, layer, seed), fan_in(plan, g, p));
}

int32_t factor_count(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh) {
  return plan_of(d, sh).factor_count;
}

int32_t grad_blocks(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh,
                    morph::GradBlock* blocks) {
  const Plan& plan = plan_of(d, sh);
  for (size_t k = 0; k < plan.blocks.size(); ++k) blocks[k] = plan.blocks[k];
  return static_cast<int32_t>(plan.blocks.size());
}

template <class T>
void delta(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh, const T* p,
           const T* x, T* out) {
  row_delta<T>(of(d).graph(), plan_of(d, sh), p, x, out);
}

template <class T>
void backward(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh, const T* p,
              const T* x, const T* g, T* dx, T* F) {
  row_backward<T>(of(d).graph(), plan_of(d, sh), p, x, g, dx, F);
}

}  // namespace

const Plan& IrBlueprint::plan(const morph::BlueprintShape& sh) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& p : plans_)
    if (same_shape(p->shape, sh)) return *p;
  plans_.push_back(std::make_unique<const Plan>(make_plan(graph_, sh)));
  return *plans_.back();
}

morph::BlueprintDescriptor make_descriptor(Graph g) {
  morph::BlueprintDescriptor d;
  d.name = g.name;
  d.path = morph::BlueprintPath::row;
  d.param_count = &param_count;
  d.init_value = &init_value;
  d.factor_count = &factor_count;
  d.grad_blocks = &grad_blocks;
  d.row_f32 = {&delta<float>, &backward<float>};
  d.row_f64 = {&delta<double>, &backward<double>};
  d.data = std::make_shared<const IrBlueprint>(std::move(g));
  return d;
}

const IrBlueprint* ir_blueprint_of(const morph::BlueprintDescriptor& d) {
  return d.param_count == &param_count ? &of(d) : nullptr;
}

int32_t register_graph(const Graph& g) {
  if (const morph::BlueprintDescriptor* d = morph::find_blueprint(g.name)) {
    const IrBlueprint* bp = ir_blueprint_of(*d);
    if (bp && bp->graph().hash == g.hash) return d->kind;
    throw UserError("blueprint '" + g.name + "' is already registered " +
                    (bp ? "with another definition" : "as a built-in") + " (choose another name)");
  }
  return morph::register_blueprint(make_descriptor(g));
}

}  // namespace kasmina::ir
