// The fallback chain's built-in step (ops/ir_backend.hpp) as a blueprint module: an IR blueprint
// that restates a built-in (ir/builtin_ir.hpp) has its seeds computed by the fused seed kernels
// as that built-in (kernels/morph: a launch of the seed kernel restricted to this kind), at the
// hand-written kernels' speed, when its generated kernels cannot be had.
#include <chrono>
#include <memory>
#include <string>

#include "ir/blueprint.hpp"
#include "morph/blueprint.hpp"
#include "morph/morph_limits.hpp"
#include "ops/ir_backend.hpp"
#include "ops/morph/blueprint_module.hpp"

namespace kasmina::ops {

namespace {

class BuiltinModule final : public morph::BlueprintModule {
 public:
  BuiltinModule(int32_t kind, int32_t as_kind) : kind_(kind), as_kind_(as_kind) {}
  int32_t kind() const override { return kind_; }
  void forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
               const MorphForwardOptions& opt, const morph::ModuleLaunch& how) const override {
    cuda::morph_seed_forward_as(L, x, out, opt, kind_, as_kind_, how.dependent);
  }
  void backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                bool param_grads, const morph::ModuleLaunch& how) const override {
    cuda::morph_seed_backward_as(L, x, dy, dx, param_grads, kind_, as_kind_, how.dependent,
                                 how.zero_norms);
  }
  std::string describe() const override {
    return std::string("the fused seed kernels as ") + name();
  }
  const char* name() const {
    return morph::blueprint_name(static_cast<morph::BlueprintKind>(as_kind_));
  }

 private:
  int32_t kind_, as_kind_;
};

}  // namespace

PreparedModule load_builtin_module(const ir::IrBlueprint& bp, int32_t kind, int32_t as_kind,
                                   const morph::BlueprintShape& sh, Device dev) {
  (void)dev;  // the fused kernels are compiled into the binary for every architecture it runs on
  const auto t0 = std::chrono::steady_clock::now();
  PreparedModule out;
  out.served_by = served_by_name(ServedBy::builtin);
  out.level = out.served_by;
  const int32_t want = morph::blueprint_param_count(as_kind, sh);
  if (!morph::chunk_supported(sh.chunk) || sh.hidden > morph::kMaxHidden ||
      sh.rank > morph::kMaxHidden) {
    out.why = "the built-in kernels do not take its shape";
  } else if (bp.plan(sh).param_count != want) {  // the same hash: cannot differ (a guard)
    out.why = "its parameters do not pack as the built-in's";
  } else {
    auto m = std::make_shared<BuiltinModule>(kind, as_kind);
    out.launch = m->describe();
    out.module = std::move(m);
  }
  out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace kasmina::ops
