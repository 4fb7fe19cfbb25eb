// The fused ops of a morphogenetic layer (KasminaLayer). Each processes ALL seeds of a layer in
// one pass (one launch per op on CUDA; no per-seed host loops) and reads the seed state from
// the device. CPU twins (float and double) and CUDA launchers (float) share the per-seed math
// of src/morph/{blueprint,grafting,lifecycle}.hpp. Each op is declared once by KASMINA_OP
// (ops/op_registry.hpp): its twins, its routing by the layer's device and its registration.
//
// Activations are x [B, S*C] row-major; seed s watches columns [s*C, (s+1)*C).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "morph/lifecycle_commands.hpp"
#include "morph/morph_config.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::morph {
class BlueprintModule;  // ops/morph/blueprint_module.hpp
}

namespace kasmina::ops {

// Rows of x one CUDA forward block reduces into one partial (the statistics partial buffer has
// ceil(max_batch / kMorphRowsPerTile) row tiles).
inline constexpr int64_t kMorphRowsPerTile = 32;
// Per (row tile, seed) partial statistics of the CUDA forward: sum, sum of squares, dead count,
// max |x|.
inline constexpr int64_t kMorphPartialStats = 4;
// Accumulated telemetry per seed (f64): element count, sum, sum of squares, dead count, max |x|.
inline constexpr int64_t kMorphTelemetryStats = 5;
// Per-step measurements per seed (f32): input mean square, isolated (reconstruction) loss.
inline constexpr int64_t kMorphStepStats = 2;

// Every buffer the fused ops of one layer touch; all on one device. Created by KasminaLayer.
struct MorphLayerBuffers {
  int32_t seeds = 0;
  morph::BlueprintShape shape;  // shape.chunk = C
  Tensor state;                 // i32 [kSeedFieldCount, S] (SeedState storage)
  Tensor pool;                  // f32 (f64 on CPU) [slots * region * kPoolRegionCount]
  Tensor slot_owner;            // i32 [slots]
  int32_t pool_slots = 0;
  int32_t pool_region = 0;  // pool_region_width(largest parameter count)
  // pool_region_width(largest parameter count of the kinds in the fused kernels' kind table):
  // what the fused CUDA kernels stage in shared memory (a row_mlp seed's larger region is never
  // staged there: the row group computes it). 0: pool_region.
  int32_t fused_region = 0;
  Tensor partials;    // f32 [row tiles, S, kMorphPartialStats] (forward scratch)
  Tensor step_stats;  // f32 [S, kMorphStepStats]
  Tensor telemetry;   // f64 [S, kMorphTelemetryStats] (accumulates)
  Tensor grad_norm;   // f32 [S] blueprint gradient norm of the last backward
  // In-place forwards (MorphForwardOptions::in_place): the input rows of each blended seed's
  // chunk, [pool_slots * saved_rows, C] in the activations' type, slot-major (the rows of slot q
  // at q * saved_rows); undefined: the layer never runs in place.
  Tensor saved;
  int64_t saved_rows = 0;  // batch rows a slot holds (the layer's max batch)
  Tensor eval_zero;        // u8 [S]: 1 = alpha forced to 0 in masked evaluation
  Tensor commands;         // u8: CommandBufferHeader + command_capacity MorphCommand
  Tensor events;           // u8: EventRingHeader + event_capacity MorphEvent
  int32_t command_capacity = 0;
  int32_t event_capacity = 0;
  int32_t training_objective = 0;  // morph::TrainingObjective of TRAINING seeds (backward)
  // Bit k: seeds of blueprint kind k are computed by the GEMM path (morph/seed_path.hpp,
  // ops/morph/morph_gemm_path.hpp), run after the fused ops; the fused ops treat them as
  // DORMANT (their chunk copied, no blend, no gradient, no step measurement).
  uint32_t gemm_kinds = 0;
  // CUDA: the modules of the layer's blueprints the fused kernels do not contain (IR blueprints),
  // run within each fused forward and backward (ops/morph/blueprint_module.hpp), and the table
  // of their initialisers the lifecycle kernel reads at germination (registered_init_table;
  // undefined: none). The CPU twins compute every blueprint from its descriptor instead.
  std::vector<std::shared_ptr<const morph::BlueprintModule>> modules;
  Tensor registered_init;
  bool fused_seeds = true;  // CUDA: the fused seed kernels run (false: no built-in is allowed)
  Device device() const { return state.device(); }
};

struct MorphForwardOptions {
  // Statistics pass: accumulate telemetry (input sum, sum of squares, dead count, max |x|) and
  // write the step measurements (input mean square; isolated loss of TRAINING seeds).
  bool collect_stats = true;
  // Seeds with eval_zero[s] = 1 are treated as identity (alpha forced to 0).
  bool use_eval_mask = false;
  float dead_eps = 1e-6f;
  // In place: out is x. Chunks that are not blended are left as they are (no copy: the
  // statistics pass only reads them); each blended seed first saves its chunk's input rows to
  // L.saved (its slot's rows), then writes x + alpha * delta(x) over them. The backward of such a
  // forward is morph_backward_saved, which reads those rows and puts them back into x.
  bool in_place = false;
};

// out = x for seeds that are not blended; out = x + alpha * delta(x) for blended seeds (stage
// GRAFTING..FOSSILIZED with alpha > 0). x, out [B, S*C] (f32, or f64 on CPU); out may not alias
// x, except in place (opt.in_place: out must be x). Statistics as in MorphForwardOptions;
// telemetry accumulates, step_stats is overwritten.
KASMINA_OP(void, morph_forward,
           (const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
            const MorphForwardOptions& opt),
           (L, x, out, opt), L.device())

// Backward of the last forward (collect_stats and no eval mask):
//   dx = dy for identity seeds; dx = dy + alpha * J_delta(x)^T dy for blended seeds.
// With param_grads, the gradient region of every training seed's slot is overwritten:
//   GRAFTING / FINE_TUNING: dL/dp = alpha * J_p(x)^T dy (the global loss);
//   TRAINING: dL_iso/dp with L_iso = mean over the B*C chunk values of delta(x)^2 (the isolated
//   reconstruction objective |f(x) - x|^2; it never reaches dx); with L.training_objective
//   task_gradient, J_p(x)^T dy instead (straight through, as if blended at alpha 1; it never
//   reaches dx either), and step_stats[s][1] = sum over the batch of <delta(x), dy>;
// and grad_norm[s] = ||dL/dp||_2 (0 for other seeds). dx may be null.
KASMINA_OP(void, morph_backward,
           (const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
            bool param_grads),
           (L, x, dy, dx, param_grads), L.device())

// morph_backward of a forward that ran in place (MorphForwardOptions::in_place): x is the
// tensor the forward overwrote, whose blended chunks hold the blend; their input rows are read
// from L.saved, and written back into x at the end (x then holds the forward's input again, for
// the layers below). dx may alias dy (then only the blended chunks of dy are rewritten: dx = dy
// elsewhere without a copy), else dx gets the copy as in morph_backward. dx may be null; x is
// restored either way.
KASMINA_OP(void, morph_backward_saved,
           (const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
            bool param_grads),
           (L, x, dy, dx, param_grads), L.device())

// AdamW over the pool (PyTorch semantics, per-seed step counters for bias correction) for seeds
// in TRAINING, GRAFTING or FINE_TUNING whose last gradient norm is finite.
KASMINA_OP(void, morph_optimizer_step,
           (const MorphLayerBuffers& L, const morph::BlueprintOptimizer& h), (L, h), L.device())

struct MorphLifecycleArgs {
  morph::LifecycleParams lifecycle;
  morph::GraftingParams grafting;
  morph::LayerRules rules;
  bool stats_fresh = false;  // step_stats were written by this step's forward
  bool grads_fresh = false;  // grad_norm was written by this step's backward
  // i32[1] on the layer's device: the loss guard's flag (ops/guard/loss_guard.hpp), read on the
  // device; when nonzero, seeds in GRAFTING / STABILIZATION / FINE_TUNING roll back (reason
  // loss_alarm). Undefined: no guard.
  Tensor loss_alarm;
};

// The step boundary: pass A (time and gates, every seed), pass B (GERMINATED -> TRAINING in seed
// order while training slots are free), then the queued host commands in order; the command
// count is reset to 0. Events go to the ring in that order. step: i64[1] (read on the device).
KASMINA_OP(void, morph_lifecycle_step,
           (const MorphLayerBuffers& L, const MorphLifecycleArgs& a, const Tensor& step),
           (L, a, step), L.device())

}  // namespace kasmina::ops
