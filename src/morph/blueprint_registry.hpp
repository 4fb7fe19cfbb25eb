// Blueprints as descriptors, and the registry that maps a name (the YAML `blueprints:` entries,
// germination commands) and a kind id (a seed's `blueprint` field) to one.
//
// A descriptor says everything the layer, the CPU twin and the CUDA launchers need to know about
// a blueprint: its parameter count and gradient layout (blocks of factor products,
// blueprint_layout.hpp), its deterministic initialisation, and how it is computed:
//   - path row: per row of the seed's chunk (C -> C), by the row functions (CPU twin; f32 and
//     f64) and, on CUDA, by the fused morph kernels when it is a built-in (the kind table of
//     blueprint.hpp) or by its module;
//   - path gemm: over all rows at once (e.g. H -> h -> C reading the whole layer, or a blueprint
//     too large for registers), by its module on both devices.
// The three built-ins are registered first (kind ids 0, 1, 2 = BlueprintKind). A blueprint made
// at run time (an IR graph compiled with NVRTC; its CPU twin an interpreter of the IR) is
// registered with register_blueprint before the config is validated and gets the next kind id.
// See src/morph/README.md, "The blueprint seam".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "morph/blueprint_layout.hpp"
#include "morph/morph_config.hpp"

namespace kasmina::morph {

enum class BlueprintPath : int32_t { row = 0, gemm = 1 };

struct BlueprintDescriptor;

// The per-row math of a row-path blueprint in element type T (the CPU twin's f32 and f64).
template <class T>
struct BlueprintRowFns {
  // delta[c] = f(x)[c] - x[c], c < C, for one row.
  void (*delta)(const BlueprintDescriptor& d, const BlueprintShape& sh, const T* p, const T* x,
                T* delta) = nullptr;
  // dx += J_x^T g (dx not null) and the row's gradient factors into F (not null).
  void (*backward)(const BlueprintDescriptor& d, const BlueprintShape& sh, const T* p, const T* x,
                   const T* g, T* dx, T* F) = nullptr;
};

// Device (or GEMM) code of a blueprint that the fused kernels do not contain: defined by the op
// layer (src/ops/morph/blueprint_module.hpp); null for the built-ins.
class BlueprintModule;

struct BlueprintDescriptor {
  std::string name;
  int32_t kind = -1;  // set by the registry
  BlueprintPath path = BlueprintPath::row;
  bool in_fused_kernels = false;  // a built-in: the fused CUDA kernels compute it (blueprint.hpp)
  // f is an affine map of its chunk (low_rank, diag_scale): a linear layer right after the
  // kasmina layer absorbs it exactly, so it adds no function there (a config warning says so).
  bool affine = false;
  int32_t (*param_count)(const BlueprintDescriptor& d, const BlueprintShape& sh) = nullptr;
  float (*init_value)(const BlueprintDescriptor& d, const BlueprintShape& sh, int32_t i,
                      uint64_t run_seed, int32_t layer, int32_t seed) = nullptr;
  // Factors per row, and the parameters as blocks of factor products (kMaxGradBlocks at most).
  int32_t (*factor_count)(const BlueprintDescriptor& d, const BlueprintShape& sh) = nullptr;
  int32_t (*grad_blocks)(const BlueprintDescriptor& d, const BlueprintShape& sh,
                         GradBlock* blocks) = nullptr;
  // Analytic FLOPs per row (training-FLOP counts); null: not counted (0).
  BlueprintFlops (*flops)(const BlueprintDescriptor& d, const BlueprintShape& sh) = nullptr;
  BlueprintRowFns<float> row_f32;                 // path row
  BlueprintRowFns<double> row_f64;                // path row
  std::shared_ptr<const BlueprintModule> module;  // not in the fused kernels: its device code
  std::shared_ptr<const void> data;               // the blueprint's own data (its IR, ...)

  template <class T>
  const BlueprintRowFns<T>& row() const {
    if constexpr (sizeof(T) == sizeof(float))
      return row_f32;
    else
      return row_f64;
  }
};

// The descriptor of kind id `kind`, or null when no blueprint has that id.
const BlueprintDescriptor* find_blueprint(int32_t kind);
// The descriptor named `name`, or null.
const BlueprintDescriptor* find_blueprint(const std::string& name);
// The parameter count of any registered blueprint (built-in or made at run time) at shape `sh`;
// 0 for a kind with no blueprint. Host code counts parameters with this, never with the
// built-ins' blueprint_param_count, which knows only the kinds compiled into the kernels.
int32_t registered_param_count(int32_t kind, const BlueprintShape& sh);
// The registered names in kind order ("residual_mlp, low_rank, diag_scale" for the built-ins).
std::vector<std::string> blueprint_names();
// The descriptor named `name`; UserError "unknown blueprint 'x' (allowed: ...)" otherwise.
const BlueprintDescriptor& blueprint_named(const std::string& name);
// Registers a blueprint made at run time and returns its kind id. UserError when the name is
// taken or kMaxBlueprintKinds are registered; InternalError when a function it needs is missing.
int32_t register_blueprint(BlueprintDescriptor d);

}  // namespace kasmina::morph
