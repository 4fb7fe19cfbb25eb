// The first and last phases of the fused MLP step (mlp_step.cu) when the op takes its batch
// gather and the optimizer's update along (ops::MlpStepGather, ops::MlpStepUpdate): the gather's
// rows spread over the blocks (gather_row.cuh), and the optimizer's chunks spread over the blocks
// (optimizer_chunk.cuh), the same per-element code as their own kernels, so the values are
// theirs. The counters the update advances are advanced by the last block out of the launch
// (mlp_step.cu), after every block has read the step counter and the batch cursor.
//
// Visibility: the gathered x and labels, and the gradients the update reads, are written by
// other blocks before a grid barrier and were not read by this launch before it, so no L1 line
// holds a stale copy; the weights the update writes are read again only by later launches.
#pragma once
#include "kernels/gather_row.cuh"
#include "kernels/mlp_step_types.cuh"
#include "kernels/optimizer_chunk.cuh"

namespace kasmina::kernels::mlp_step {

static_assert(mlp::kThreads == optim::kThreads, "the update phase runs the optimizer's chunks");

__device__ inline void gather_phase(const StepDev& s) {
  const GatherDev& g = s.gather;
  for (int64_t b = blockIdx.x; b < s.rows; b += gridDim.x) {
    if (g.u8)
      gather_row(static_cast<const uint8_t*>(g.images), g.labels, g.perm, g.cursor, g.count,
                 g.width, s.rows, g.scale, g.shift, g.vectorised != 0, g.x, g.y, b,
                 static_cast<int>(threadIdx.x), mlp::kThreads);
    else
      gather_row(static_cast<const float*>(g.images), g.labels, g.perm, g.cursor, g.count, g.width,
                 s.rows, g.scale, g.shift, g.vectorised != 0, g.x, g.y, b,
                 static_cast<int>(threadIdx.x), mlp::kThreads);
  }
}

// The update's per-element coefficients for the step counter's value.
struct UpdateCoefficients {
  optim::AdamWUpdate adamw;
  optim::SgdUpdate sgd;
};

__device__ inline UpdateCoefficients update_coefficients(const StepDev& s) {
  const UpdateDev& u = s.update;
  const int64_t taken = u.step[0];
  UpdateCoefficients c;
  if (u.sgd)
    c.sgd = optim::sgd_at(u.sgd_hyper, u.schedule, taken);
  else
    c.adamw = optim::adamw_at(u.adamw, u.schedule, taken);
  return c;
}

// The plan's chunks over the blocks with the update f (SgdUpdate or AdamWUpdate).
template <class Update>
__device__ inline void update_chunks(const optim::TableView& table, const Update f) {
  for (int64_t c = blockIdx.x; c < table.chunk_count; c += gridDim.x)
    optim::update_chunk(table, c, f);
}

// The update phase (`coef` in shared memory, written before the last barrier).
__device__ inline void update_phase(const StepDev& s, const UpdateCoefficients& coef) {
  const UpdateDev& u = s.update;
  if (u.sgd) {
    update_chunks(u.table, coef.sgd);
  } else {
    update_chunks(u.table, coef.adamw);
  }
}

}  // namespace kasmina::kernels::mlp_step
