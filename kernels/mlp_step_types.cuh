// The launch description of the fused MLP step (mlp_step.cu): the layers, and the phases with
// the GEMMs each runs, as the launcher plans them and the kernel reads them (a __grid_constant__
// parameter).
#pragma once
#include <cstdint>

#include "kernels/mlp_step_tile.cuh"
#include "kernels/optimizer_chunk.cuh"
#include "ops/mlp_step_ops.hpp"

namespace kasmina::kernels::mlp_step {

enum GemmKind : int { kForward = 0, kInputGrad = 1, kWeightGrad = 2 };

struct LayerDev {
  const float* w;
  const float* b;
  float* y;
  float* dw;
  float* db;
  const float* g;  // the gradient w.r.t. this layer's pre-activation (dlogits or dpre[l])
  float* g_below;  // dpre[l - 1] (l > 0)
  int in, out;
  int relu;
};

// The sizes of GEMM `kind` of a layer, C[M, N] = Σ over K: the forward y [rows, out] over in;
// the input gradient [rows, in] over out; the weight gradient [out, in] over the rows.
struct GemmDims {
  int M, N, K;
};

__host__ __device__ inline GemmDims gemm_dims(int kind, int in, int out, int rows) {
  if (kind == kForward) return {rows, out, in};
  if (kind == kInputGrad) return {rows, in, out};
  return {out, in, rows};
}

// One GEMM of a phase: its kind and layer, tiles along m and n, k split into `splits` ranges of
// k_per (a multiple of the slab), items = tiles * splits, and where its split tiles' tickets and
// partial tiles start.
struct GemmDev {
  int kind, layer;
  int tiles_m, tiles_n, splits, k_per;
  int items;
  int ticket0, partial0;
};

// The forward and backward phases, the loss, the gather and the update.
constexpr int kMaxPhases = 2 * ops::kMlpStepMaxLayers + 3;

enum PhaseWork : int { kGemmPhase = 0, kLossPhase = 1, kGatherPhase = 2, kUpdatePhase = 3 };

struct PhaseDev {
  int work;   // PhaseWork
  int gemms;  // kGemmPhase: 1 to 3 GEMMs
  GemmDev gemm[3];
  int add_losses;  // the last block adds the rows' losses first (the first backward phase)
};

// The gather phase's arguments (ops::MlpStepGather; x and labels are the step's).
struct GatherDev {
  const void* images;  // u8 or f32 rows of `width`
  const int32_t* labels;
  const int32_t* perm;
  const int64_t* cursor;
  int64_t count, width;
  float scale, shift;
  int u8, vectorised;
  float* x;
  int32_t* y;
};

// The update phase's arguments (ops::MlpStepUpdate).
struct UpdateDev {
  optim::TableView table;
  int sgd;
  ops::AdamWHyper adamw;
  ops::SgdHyper sgd_hyper;
  LrSchedule schedule;
  const int64_t* step;
};

struct StepDev {
  LayerDev layer[ops::kMlpStepMaxLayers];
  PhaseDev phase[kMaxPhases];
  int layers, phases;
  const float* x;
  const int32_t* labels;
  int rows, classes;
  float grad_scale;
  float* dlogits;
  double* row_loss;
  int32_t* row_hit;
  double* loss_sum;
  int64_t* correct;
  float* partials;
  unsigned int* tickets;      // [0]: barrier arrivals, [1]: exits, [2..]: split tiles
  int dx_in_loss;             // the loss phase's warps (a row each, classes <= 32) compute the
                              // input gradient through the last layer for their rows
  unsigned long long* trace;  // KASMINA_MLP_STEP_TRACE: per phase and block, start and end (ns)
  int gathers, updates;       // the step has a gather phase, an update phase
  GatherDev gather;
  UpdateDev update;
};

__device__ void trace_time(const StepDev& s, int phase, int end) {
  if (s.trace == nullptr || threadIdx.x != 0) return;
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  s.trace[(static_cast<int64_t>(phase) * gridDim.x + blockIdx.x) * 2 + end] = t;
}

constexpr int kPartialFloats = mlp::kTileOutputs + mlp::kTile;

}  // namespace kasmina::kernels::mlp_step
