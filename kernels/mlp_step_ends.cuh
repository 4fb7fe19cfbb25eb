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

// A row's gather is a chain of dependent loads (the cursor, the row's perm entry, the image row),
// so a block gathers several rows at once: the block splits into groups of the warps a row's
// 16-byte loads need (a 784-pixel uint8 row: 49 loads, two warps, so four groups of 64 threads),
// group q taking rows blockIdx.x + gridDim.x * (q + groups * k). At B256 on 132 blocks a block's
// two rows then load side by side instead of one chain after the other.
__device__ inline void gather_phase(const StepDev& s) {
  const GatherDev& g = s.gather;
  const int64_t loads = g.vectorised ? g.width / (g.u8 ? 16 : 4) : g.width;
  const int per_row = loads >= mlp::kThreads || loads < 1
                          ? mlp::kThreads
                          : static_cast<int>((loads + 31) / 32 * 32);
  const int groups = mlp::kThreads / per_row;
  const int q = static_cast<int>(threadIdx.x) / per_row;
  if (q >= groups) return;  // the threads past the last whole group
  const int tid = static_cast<int>(threadIdx.x) % per_row;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * groups;
  for (int64_t b = blockIdx.x + static_cast<int64_t>(gridDim.x) * q; b < s.rows; b += stride) {
    if (g.u8)
      gather_row(static_cast<const uint8_t*>(g.images), g.labels, g.perm, g.cursor, g.count,
                 g.width, s.rows, g.scale, g.shift, g.vectorised != 0, g.x, g.y, b, tid, per_row);
    else
      gather_row(static_cast<const float*>(g.images), g.labels, g.perm, g.cursor, g.count, g.width,
                 s.rows, g.scale, g.shift, g.vectorised != 0, g.x, g.y, b, tid, per_row);
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

// The block's first chunk of the update (chunk blockIdx.x), read by one thread when the launch
// starts, long before the update phase (~120 chunks at 784-256-128-10 for 132 blocks: nearly
// every block's only chunk): its descriptor into `first` (shared memory; the grid
// barriers before the update phase publish it to the block), and its optimizer moments m and v
// prefetched into L2 (the weights were read into L2 by the forward phases and the gradients are
// written there by the backward ones). The update phase then starts with one round trip to L2
// instead of the descriptor's two dependent loads and then the moments from memory. The
// prefetch is a hint: it changes no value.
__device__ inline void prefetch_first_chunk(const optim::TableView& table, optim::ChunkRef& first) {
  if (static_cast<int64_t>(blockIdx.x) >= table.chunk_count) return;
  const optim::ChunkRef r = optim::chunk_ref(table, blockIdx.x);
  first = r;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // Vectorised: 16-byte aligned ranges of whole float4 groups, as the bulk prefetch needs.
  if (r.t.vectorised) {
    const auto bytes = static_cast<uint32_t>((r.end - r.start) * sizeof(float));
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(r.t.m + r.start), "r"(bytes)
                 : "memory");
    if (r.t.v)
      asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(r.t.v + r.start), "r"(bytes)
                   : "memory");
  }
#endif
}

// The plan's chunks over the blocks with the update f (SgdUpdate or AdamWUpdate); the block's
// first chunk from its descriptor read at the start (prefetch_first_chunk).
template <class Update>
__device__ inline void update_chunks(const optim::TableView& table, const optim::ChunkRef& first,
                                     const Update f) {
  for (int64_t c = blockIdx.x; c < table.chunk_count; c += gridDim.x) {
    // In registers (the chunk's stores cannot alias it); one call, so one copy of the code.
    const optim::ChunkRef r = c == blockIdx.x ? first : optim::chunk_ref(table, c);
    optim::update_chunk<false>(r, [&f] { return f; });
  }
}

// The update phase (`coef` and `first` in shared memory, written before the last barrier).
__device__ inline void update_phase(const StepDev& s, const UpdateCoefficients& coef,
                                    const optim::ChunkRef& first) {
  const UpdateDev& u = s.update;
  if (u.sgd) {
    update_chunks(u.table, first, coef.sgd);
  } else {
    update_chunks(u.table, first, coef.adamw);
  }
}

}  // namespace kasmina::kernels::mlp_step
