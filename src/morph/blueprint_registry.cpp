// The blueprint registry: the built-ins' descriptors (their functions are the kind table's, so
// the CPU twin and the fused kernels run the same code), and blueprints registered at run time.
#include "morph/blueprint_registry.hpp"

#include <array>
#include <mutex>

#include "core/error.hpp"
#include "morph/blueprint.hpp"

namespace kasmina::morph {

namespace {

template <class BP>
int32_t param_count_of(const BlueprintDescriptor&, const BlueprintShape& sh) {
  return BP::param_count(sh);
}
template <class BP>
float init_value_of(const BlueprintDescriptor&, const BlueprintShape& sh, int32_t i,
                    uint64_t run_seed, int32_t layer, int32_t seed) {
  return BP::init(sh, i, init_uniform(i, run_seed, layer, seed));
}
template <class BP>
int32_t factor_count_of(const BlueprintDescriptor&, const BlueprintShape& sh) {
  return 1 + 2 * sh.chunk + BP::hidden_factor_count(sh);
}
template <class BP>
BlueprintFlops flops_of(const BlueprintDescriptor&, const BlueprintShape& sh) {
  return BP::flops(sh);
}
template <class BP>
int32_t grad_blocks_of(const BlueprintDescriptor&, const BlueprintShape& sh, GradBlock* blocks) {
  return BP::grad_blocks(sh, blocks);
}
// The CPU twin's row functions, with the chunk bound kRowChunk for row-sized chunks (the loops
// run to the bound and test c < C) and kMaxChunk past it.
template <class BP, class T>
void delta_of(const BlueprintDescriptor&, const BlueprintShape& sh, const T* p, const T* x,
              T* delta) {
  if (sh.chunk <= kRowChunk) return BP::template delta<kRowChunk, T>(sh, p, x, delta);
  BP::template delta<kMaxChunk, T>(sh, p, x, delta);
}
template <class BP, int CMAX, class T>
void backward_bounded(const BlueprintShape& sh, const T* p, const T* x, const T* g, T* dx, T* F) {
  T* hid = write_row_factors<CMAX, T>(sh, x, g, F);
  BP::template backward<CMAX, T>(sh, p, x, g, dx, hid);
}
template <class BP, class T>
void backward_of(const BlueprintDescriptor&, const BlueprintShape& sh, const T* p, const T* x,
                 const T* g, T* dx, T* F) {
  if (sh.chunk <= kRowChunk) return backward_bounded<BP, kRowChunk, T>(sh, p, x, g, dx, F);
  backward_bounded<BP, kMaxChunk, T>(sh, p, x, g, dx, F);
}

template <class BP>
BlueprintDescriptor builtin() {
  BlueprintDescriptor d;
  d.kind = static_cast<int32_t>(BP::kind);
  d.name = kBuiltinBlueprintNames[d.kind];
  d.path = BlueprintPath::row;
  d.in_fused_kernels = true;
  d.affine = BP::affine;
  d.param_count = &param_count_of<BP>;
  d.init_value = &init_value_of<BP>;
  d.factor_count = &factor_count_of<BP>;
  d.grad_blocks = &grad_blocks_of<BP>;
  d.flops = &flops_of<BP>;
  d.row_f32 = {&delta_of<BP, float>, &backward_of<BP, float>};
  d.row_f64 = {&delta_of<BP, double>, &backward_of<BP, double>};
  return d;
}

// row_mlp (blueprint_row_mlp.hpp): a built-in on the GEMM path, after the fused kinds.
BlueprintDescriptor row_mlp() {
  BlueprintDescriptor d;
  d.kind = kRowMlpKind;
  d.name = kRowMlpName;
  d.path = BlueprintPath::gemm;
  d.in_fused_kernels = false;
  d.affine = RowMlp::affine;
  d.param_count = &param_count_of<RowMlp>;
  d.init_value = &init_value_of<RowMlp>;
  d.factor_count = &factor_count_of<RowMlp>;
  d.grad_blocks = &grad_blocks_of<RowMlp>;
  d.flops = &flops_of<RowMlp>;
  return d;
}

struct Registry {
  std::mutex mutex;  // registration; lookups read published entries
  std::array<std::unique_ptr<const BlueprintDescriptor>, kMaxBlueprintKinds> kinds;
  int32_t count = 0;

  Registry() {
    add(builtin<ResidualMlp>());
    add(builtin<LowRank>());
    add(builtin<DiagScale>());
    add(row_mlp());
  }
  void add(BlueprintDescriptor d) {
    KASMINA_CHECK(d.kind == count, "blueprint registry: built-in kinds out of order");
    kinds[static_cast<size_t>(count)] = std::make_unique<const BlueprintDescriptor>(std::move(d));
    ++count;
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string join_names() {
  std::string out;
  for (const std::string& n : blueprint_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const BlueprintDescriptor* find_blueprint(int32_t kind) {
  Registry& r = registry();
  if (kind < 0 || kind >= kMaxBlueprintKinds) return nullptr;
  return r.kinds[static_cast<size_t>(kind)].get();
}

const BlueprintDescriptor* find_blueprint(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (int32_t k = 0; k < r.count; ++k)
    if (r.kinds[static_cast<size_t>(k)]->name == name) return r.kinds[static_cast<size_t>(k)].get();
  return nullptr;
}

int32_t registered_param_count(int32_t kind, const BlueprintShape& sh) {
  const BlueprintDescriptor* d = find_blueprint(kind);
  return d != nullptr ? d->param_count(*d, sh) : 0;
}

std::vector<std::string> blueprint_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (int32_t k = 0; k < r.count; ++k) names.push_back(r.kinds[static_cast<size_t>(k)]->name);
  return names;
}

const BlueprintDescriptor& blueprint_named(const std::string& name) {
  const BlueprintDescriptor* d = find_blueprint(name);
  if (!d) throw UserError("unknown blueprint '" + name + "' (allowed: " + join_names() + ")");
  return *d;
}

int32_t register_blueprint(BlueprintDescriptor d) {
  KASMINA_CHECK(d.param_count && d.init_value && d.factor_count && d.grad_blocks,
                "register_blueprint: '" + d.name + "' lacks a size, init or gradient function");
  KASMINA_CHECK(d.path != BlueprintPath::row || (d.row_f32.delta && d.row_f32.backward &&
                                                 d.row_f64.delta && d.row_f64.backward),
                "register_blueprint: row blueprint '" + d.name + "' lacks its row functions");
  if (find_blueprint(d.name))
    throw UserError("blueprint '" + d.name +
                    "' is already registered (registered: " + join_names() + ")");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.count >= kMaxBlueprintKinds)
    throw UserError("blueprint '" + d.name + "': at most " + std::to_string(kMaxBlueprintKinds) +
                    " blueprints can be registered");
  d.kind = r.count;
  d.in_fused_kernels = false;
  r.kinds[static_cast<size_t>(r.count)] = std::make_unique<const BlueprintDescriptor>(std::move(d));
  ++r.count;
  return r.count - 1;
}

const char* blueprint_name(BlueprintKind k) {
  const BlueprintDescriptor* d = find_blueprint(static_cast<int32_t>(k));
  return d ? d->name.c_str() : "?";
}

bool parse_blueprint(const char* name, BlueprintKind* out) {
  const BlueprintDescriptor* d = find_blueprint(std::string(name ? name : ""));
  if (!d) return false;
  *out = static_cast<BlueprintKind>(d->kind);
  return true;
}

}  // namespace kasmina::morph
