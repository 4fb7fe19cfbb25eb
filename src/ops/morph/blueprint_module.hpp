// The device code of a blueprint the fused morph kernels do not contain (src/morph/README.md,
// "The blueprint seam"): a BlueprintModule's kernels run inside the fused forward and backward
// of a layer, where the fused seed kernels run (beside the streaming copy, on the same stream),
// and own its kind's seeds (their chunk of out / dx, their isolated loss, their slot's gradient
// and gradient norm); the fused seed kernels skip kinds outside their table, and a layer that
// allows no built-in blueprint does not launch them (MorphLayerBuffers::fused_seeds). The IR
// blueprints' module is the generated seed kernels (ops/blueprint_codegen.hpp: the fused
// seed-kernel template with the blueprint's row functions) compiled by NVRTC and loaded with the
// CUDA runtime's library API (src/ops/cuda/ir_module.cpp).
//
// Why one generated seed kernel per IR blueprint (and not one generated kernel per layer): the
// fused kernels stay the ahead-of-time code every built-in runs, unchanged and tuned; a layer of
// IR blueprints runs the same launches as a layer of built-ins (the copy, one seed kernel per
// kind, one pass over the data); and a module is compiled once per (blueprint, shape,
// architecture), not per set of blueprints a layer allows.
//
// Slot initialisation at germination (the lifecycle kernel) reads a table of the initialisers
// of the layer's IR blueprints (registered_init_table), so CUDA starts from the values the CPU
// twin computes with the descriptor (both call ir::init_value_of on the same Philox draw).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device.hpp"
#include "core/tensor.hpp"
#include "morph/blueprint_registry.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::morph {

// How the fused ops queue a module's kernel.
struct ModuleLaunch {
  bool dependent = false;   // a programmatic dependent of the kernel queued before it (beside it)
  bool zero_norms = false;  // backward: also grad_norm = 0 for the seeds of any kind that do not
                            // train (no fused seed kernel runs to do it)
};

class BlueprintModule {
 public:
  virtual ~BlueprintModule() = default;
  virtual int32_t kind() const = 0;
  // Within the fused morph_forward of L (same arguments), beside its streaming copy: the blend
  // of this kind's seeds, and their isolated loss when collecting.
  virtual void forward(const ops::MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                       const ops::MorphForwardOptions& opt, const ModuleLaunch& how) const = 0;
  // Within the fused morph_backward, before its streaming copy: dx of this kind's blended seeds,
  // the parameter gradients and gradient norms of its training seeds (and the task_gradient
  // measurement).
  virtual void backward(const ops::MorphLayerBuffers& L, const Tensor& x, const Tensor& dy,
                        Tensor* dx, bool param_grads, const ModuleLaunch& how) const = 0;
  // "kasmina_ir_seed_forward b256, kasmina_ir_seed_backward b64" (logs).
  virtual std::string describe() const = 0;
};

}  // namespace kasmina::morph

namespace kasmina::ops {

struct PreparedModule;
// A better module of the same blueprint on the way (the fused kernels of a tiered compile,
// ops/blueprint_compiler.hpp): the layer swaps it in at a step boundary
// (KasminaLayer::upgrade_kernels), outside any graph capture.
class ModuleUpgrade {
 public:
  virtual ~ModuleUpgrade() = default;
  virtual bool ready() const = 0;
  // Waits for it, then loads it (null module: why; the layer keeps the module it has).
  virtual PreparedModule take() const = 0;
};

struct PreparedModule {
  std::shared_ptr<const morph::BlueprintModule> module;  // null: cannot run (why)
  std::string why;
  std::string key;        // the kernel cache key
  std::string level;      // the cache level that served it, with the launch configuration
  std::string served_by;  // the chain's level (ops/ir_backend.hpp): memory, disk, compiled,
                          // interpreter or refused
  double ms = 0.0;        // time to get it
  std::string note;       // worth a warning though it runs (e.g. the perf DB could not be read)
  double tune_ms = -1.0;  // >= 0: its launch configurations were timed now (`autotune:`)
  std::string launch;     // the launch configuration taken ("fwd b256 db, bwd b64 default")
  std::shared_ptr<const ModuleUpgrade> upgrade;  // null: none coming
};

// The module of registered blueprint `d` (not in the fused kernels) for a layer of shape `sh`
// on CUDA device `dev` with batches up to max_batch: compiled, or found in the caches, now (at
// prepare time, never in a step); its launch configuration from the performance database (the
// tuned winner of the nearest shape) or the defaults, after timing the candidates on a layer of
// `seeds` seeds (pool_slots of them active) when the process's autotune mode asks for it
// (ops/blueprint_tuning.hpp). When the generated kernels cannot be had (NVRTC missing, a failed
// compile) or KASMINA_IR_BACKEND=interpreter, the IR-interpreting kernels (ops/ir_backend.hpp;
// `note` says why). Null with a reason when nothing can run: a build without CUDA, a blueprint
// that is not an IR graph, KASMINA_IR_BACKEND=compiled and no generated kernels.
PreparedModule prepare_blueprint_module(const morph::BlueprintDescriptor& d,
                                        const morph::BlueprintShape& sh, Device dev,
                                        int64_t max_batch, int32_t seeds, int32_t pool_slots);

// The arguments every seed-kernel launch of kind `kind` on L shares (state, pool, statistics,
// x, B, H); each launch adds its own (out or dx, dy, mask, flags).
IrSeedArgs seed_kernel_args(const MorphLayerBuffers& L, int32_t kind, const Tensor& x);
// ... and those of a backward launch: dy, dx (null: none), the parameter-gradient and
// task-gradient flags.
IrSeedArgs backward_seed_kernel_args(const MorphLayerBuffers& L, int32_t kind, const Tensor& x,
                                     const Tensor& dy, Tensor* dx, bool param_grads);

// Loads a compiled module (ops/blueprint_compiler.hpp: one cubin) as a layer does (the library,
// both entry points and their attributes) on CUDA device 0, then unloads it, or with `keep`
// adds it there (unloaded when its element goes): the microseconds the load took, or a negative
// value without a CUDA device or when it cannot be loaded. `kasmina blueprint compile --repeat`
// adds it to the disk lookups (issue 16 counts a disk hit as read, verify and load).
double time_module_load(std::shared_ptr<const std::string> module,
                        std::vector<std::shared_ptr<const void>>* keep = nullptr);

// i32 table on `dev` for the lifecycle kernel: for kind k < kMaxBlueprintKinds, [2k] the offset
// of its entries (-1: none) and [2k + 1] their count (its parameter count); entry i is three
// words: the initialiser's kind, its constant as float bits, the parameter's fan_in. Kinds
// without an IR graph get no entries. Undefined when `kinds` has none.
Tensor registered_init_table(const std::vector<int32_t>& kinds, const morph::BlueprintShape& sh,
                             Device dev);

}  // namespace kasmina::ops

namespace kasmina::ir {
class IrBlueprint;
}

namespace kasmina::ops {
// The CUDA half of prepare_blueprint_module for an IR blueprint (src/ops/cuda/ir_module.cpp;
// CUDA builds only).
PreparedModule load_ir_module(const ir::IrBlueprint& bp, int32_t kind,
                              const morph::BlueprintShape& sh, Device dev, int64_t max_batch,
                              int32_t seeds, int32_t pool_slots);
// The module of an IR blueprint whose graph re-states built-in `as_kind` (ir/builtin_ir.hpp):
// the fused seed kernels run its seeds as that built-in (src/ops/cuda/ir_builtin.cpp; CUDA
// builds only). Null with why when the layer's shape is outside the fused kernels' range.
PreparedModule load_builtin_module(const ir::IrBlueprint& bp, int32_t kind, int32_t as_kind,
                                   const morph::BlueprintShape& sh, Device dev);
// The IR-interpreting kernels' module (src/ops/cuda/ir_interpret.cpp; CUDA builds only).
PreparedModule load_interpreted_module(const ir::IrBlueprint& bp, int32_t kind,
                                       const morph::BlueprintShape& sh, Device dev, int32_t seeds,
                                       int32_t pool_slots);
}  // namespace kasmina::ops

namespace kasmina::ops::cuda {
// The fused seed kernels (kernels/morph) for the seeds of blueprint kind `kind` alone, computed
// as the built-in `as_kind`, as a module's kernels are launched (ModuleLaunch): the module of an
// IR blueprint that re-states a built-in, when its generated kernels cannot be had.
void morph_seed_forward_as(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                           const MorphForwardOptions& opt, int32_t kind, int32_t as_kind,
                           bool dependent);
void morph_seed_backward_as(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy,
                            Tensor* dx, bool param_grads, int32_t kind, int32_t as_kind,
                            bool dependent, bool zero_norms);
}  // namespace kasmina::ops::cuda
