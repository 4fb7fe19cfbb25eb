// The launch description of the fused MLP step (mlp_step.cu): the layers, and the phases with
// the GEMMs each runs, as the launcher plans them and the kernel reads them (a __grid_constant__
// parameter).
#pragma once
#include <cstdint>

#include "kernels/mlp_step_plan.cuh"
#include "kernels/mlp_step_tile.cuh"
#include "kernels/optimizer_chunk.cuh"
#include "ops/mlp_step_ops.hpp"

namespace kasmina::kernels::mlp_step {

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
  int logits_in_loss;         // ... and, before the loss, the logits (no forward phase for the
                              // last layer)
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
