// The fused multi-tensor optimizers' device side (ops::adamw_step, ops::sgd_step), shared by
// their own launch (optimizer.cu) and by the fused MLP step's update phase (mlp_step.cu): the
// plan's descriptor table (a TensorDesc per parameter, then a ChunkDesc per work chunk of
// kChunkElements), the per-element updates of core/adamw.hpp and core/sgd.hpp with their
// coefficients from the device step counter, and the update of one chunk by one block of
// kThreads threads.
#pragma once
#include <cstdint>

#include "core/adamw.hpp"
#include "core/sgd.hpp"
#include "kernels/vector_io.cuh"
#include "ops/ops.hpp"

namespace kasmina::kernels::optim {

// 2048 elements (8 per thread): a 235k-parameter model gives ~120 chunks, enough to fill the
// H100's 132 SMs; 16384 gave 15 blocks and 26.6 us for 6.6 MB (bandwidth-starved).
constexpr int64_t kChunkElements = 2048;
constexpr int kThreads = 256;
constexpr int kVecPerThread = static_cast<int>(kChunkElements / (4 * kThreads));
static_assert(kChunkElements % (4 * kThreads) == 0, "a chunk is whole float4 groups per thread");

struct TensorDesc {
  float* p;
  const float* g;
  float* m;
  float* v;  // null for SGD plans
  int64_t n;
  int64_t vectorised;  // all pointers 16-byte aligned and n % 4 == 0
};

struct ChunkDesc {
  int64_t tensor;
  int64_t start;
};

// The uploaded table of a plan, its chunk count and the counters its step advances.
struct TableView {
  const TensorDesc* tensors;
  const ChunkDesc* chunks;
  int64_t chunk_count;
  int64_t* advance;  // counters to add 1 to after the step (null: none)
  int advance_n;
};

// AdamW per element: core/adamw.hpp's adamw_update, shared with the CPU twin.
struct AdamWUpdate {
  AdamWCoefficients<float> c;
  __device__ void operator()(float& p, float g, float& m, float& v) const {
    adamw_update(c, p, g, m, v);
  }
};

struct SgdUpdate {
  float lr, wd, mom;
  bool first, nesterov;
  __device__ void operator()(float& p, float g, float& m, float&) const {
    sgd_update(lr, wd, mom, first, nesterov, p, g, m);
  }
};

// The updates of the step with 0-based index `taken` (lr_at(schedule, taken), t = taken + 1).
__device__ inline AdamWUpdate adamw_at(const ops::AdamWHyper& h, const LrSchedule& s,
                                       int64_t taken) {
  return AdamWUpdate{adamw_coefficients<float>(lr_at(s, taken), h.weight_decay, h.beta1, h.beta2,
                                               h.eps, static_cast<double>(taken + 1))};
}

__device__ inline SgdUpdate sgd_at(const ops::SgdHyper& h, const LrSchedule& s, int64_t taken) {
  SgdUpdate u;
  u.lr = lr_at(s, taken);
  u.wd = h.weight_decay;
  u.mom = h.momentum;
  u.first = taken == 0;
  u.nesterov = h.nesterov;
  return u;
}

// The update for the optimizer's hyperparameters (overloads of adamw_at / sgd_at).
__device__ inline AdamWUpdate update_at(const ops::AdamWHyper& h, const LrSchedule& s,
                                        int64_t taken) {
  return adamw_at(h, s, taken);
}
__device__ inline SgdUpdate update_at(const ops::SgdHyper& h, const LrSchedule& s, int64_t taken) {
  return sgd_at(h, s, taken);
}

// Chunk `c` of a table: its tensor's descriptor copied into registers (so that the chunk's
// stores cannot alias it: read by reference, every pointer was loaded again after each store),
// its element range and its bf16 copy (null: none).
struct ChunkRef {
  TensorDesc t;
  int64_t start, end;
  bf16* copy;
};

__device__ inline ChunkRef chunk_ref(const TableView& table, int64_t c,
                                     bf16* const* copies = nullptr) {
  const ChunkDesc cd = table.chunks[c];
  ChunkRef r;
  r.t = table.tensors[cd.tensor];
  r.start = cd.start;
  r.end = cd.start + kChunkElements < r.t.n ? cd.start + kChunkElements : r.t.n;
  r.copy = copies ? copies[cd.tensor] : nullptr;
  return r;
}

// Updates a chunk with the block's kThreads threads: the thread's elements are loaded, then
// make_update() gives the update (so that computing its coefficients overlaps the loads in
// flight), then they are updated and stored. With kCopies, r.copy (when not null) then receives
// the updated values rounded to bf16 (MultiTensorPlan::keep_bf16_copies); without, the code is
// that of the plain update.
template <bool kCopies, class MakeUpdate>
__device__ void update_chunk(const ChunkRef& r, MakeUpdate make_update) {
  const TensorDesc& t = r.t;
  const int64_t start = r.start, end = r.end;
  if (t.vectorised) {  // start is a chunk's start or a block's part of it: a multiple of 4
    // All of a thread's float4 groups are loaded before any is updated: one memory round trip
    // per chunk instead of one per group.
    float4 p[kVecPerThread], g[kVecPerThread], m[kVecPerThread], v[kVecPerThread];
#pragma unroll
    for (int k = 0; k < kVecPerThread; ++k) {
      const int64_t i = start + 4 * (threadIdx.x + k * kThreads);
      if (i < end) {
        p[k] = *reinterpret_cast<const float4*>(t.p + i);
        g[k] = *reinterpret_cast<const float4*>(t.g + i);
        m[k] = *reinterpret_cast<const float4*>(t.m + i);
        v[k] = t.v ? *reinterpret_cast<const float4*>(t.v + i) : make_float4(0, 0, 0, 0);
      }
    }
    const auto u = make_update();
#pragma unroll
    for (int k = 0; k < kVecPerThread; ++k) {
      const int64_t i = start + 4 * (threadIdx.x + k * kThreads);
      if (i >= end) continue;
      u(p[k].x, g[k].x, m[k].x, v[k].x);
      u(p[k].y, g[k].y, m[k].y, v[k].y);
      u(p[k].z, g[k].z, m[k].z, v[k].z);
      u(p[k].w, g[k].w, m[k].w, v[k].w);
      *reinterpret_cast<float4*>(t.p + i) = p[k];
      *reinterpret_cast<float4*>(t.m + i) = m[k];
      if (t.v) *reinterpret_cast<float4*>(t.v + i) = v[k];
      if constexpr (kCopies) {
        const float q[4] = {p[k].x, p[k].y, p[k].z, p[k].w};
        if (r.copy) store_floats<4>(r.copy, i, q);  // 8 bytes: i is a multiple of 4
      }
    }
    return;
  }
  const auto u = make_update();
  for (int64_t i = start + threadIdx.x; i < end; i += kThreads) {
    float p = t.p[i], m = t.m[i], v = t.v ? t.v[i] : 0.0f;
    u(p, t.g[i], m, v);
    t.p[i] = p;
    t.m[i] = m;
    if (t.v) t.v[i] = v;
    if constexpr (kCopies) {
      if (r.copy) store_float(r.copy, i, p);
    }
  }
}

// Updates chunk `c` of the table with the update `u` (its coefficients already computed).
template <class Update>
__device__ void update_chunk(const TableView& table, int64_t c, const Update& u) {
  update_chunk<false>(chunk_ref(table, c), [&u] { return u; });
}

// Adds 1 to each of the table's counters (one block; the caller makes sure that every reader of
// the step counter has read it).
__device__ inline void advance_counters(const TableView& table) {
  if (table.advance != nullptr && static_cast<int>(threadIdx.x) < table.advance_n)
    table.advance[threadIdx.x] += 1;
}

}  // namespace kasmina::kernels::optim

namespace kasmina::ops::cuda {

// The plan's uploaded descriptor table (optimizer.cu; the plan must have a CUDA backend).
kernels::optim::TableView optimizer_table(const MultiTensorPlan& plan);
// The argument checks of adamw_step (needs_v) and sgd_step: InternalError naming `op`.
void check_optimizer_plan(const char* op, const MultiTensorPlan& plan, bool needs_v,
                          const Tensor& step);

}  // namespace kasmina::ops::cuda
