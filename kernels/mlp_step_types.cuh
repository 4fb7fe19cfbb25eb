// The launch description of the fused MLP step (mlp_step.cu): the layers, and the phases with
// the GEMMs each runs, as the launcher plans them and the kernel reads them (a __grid_constant__
// parameter).
#pragma once
#include <cstdint>

#include "kernels/mlp_step_tile.cuh"
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

// One GEMM of a phase: its kind and layer, tiles along m and n, k split into `splits` ranges of
// k_per (a multiple of the slab), items = tiles * splits, and where its split tiles' tickets and
// partial tiles start.
struct GemmDev {
  int kind, layer;
  int tiles_m, tiles_n, splits, k_per;
  int items;
  int ticket0, partial0;
};

constexpr int kMaxPhases = 2 * ops::kMlpStepMaxLayers + 1;

struct PhaseDev {
  int gemms;  // 0: the loss phase; else 1 to 3 GEMMs
  GemmDev gemm[3];
  int add_losses;  // the last block adds the rows' losses first (the first backward phase)
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
  int loss_in_tile;           // the logits tile's block computes the softmax (classes <= 32)
  int dx_in_tile;             // ... and the input gradient through the last layer for its rows
  unsigned long long* trace;  // KASMINA_MLP_STEP_TRACE: per phase and block, start and end (ns)
};

__device__ void trace_time(const StepDev& s, int phase, int end) {
  if (s.trace == nullptr || threadIdx.x != 0) return;
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  s.trace[(static_cast<int64_t>(phase) * gridDim.x + blockIdx.x) * 2 + end] = t;
}

constexpr int kPartialFloats = mlp::kTileOutputs + mlp::kTile;

}  // namespace kasmina::kernels::mlp_step
