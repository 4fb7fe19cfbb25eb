// The one-launch pass of the morph forward and of the backward input gradient over a
// [B, H = S*C] activation matrix.
//
// Forward  (kBackward = false): out = x for every seed; blended seeds (GRAFTING..FOSSILIZED,
//   alpha > 0, not masked) then get x + alpha * delta(x); with statistics on, per-seed input
//   statistics (sum, sum of squares, dead count, max |x|) and the isolated loss |delta|^2 of
//   TRAINING seeds per row tile, folded into the step measurements and the telemetry by the
//   last block of each column of blocks.
// Backward (kBackward = true): dx = dy for every seed; blended seeds then get
//   dy + alpha * J^T dy.
//
// Layout. A block covers spb whole seeds (columns) and one kMorphRowsPerTile-row tile. Copy
// phase: a thread owns W consecutive floats of a row (W = 4, one 16-byte access, when C % 4 == 0
// and the pointers are 16-byte aligned; else 1), consecutive threads own consecutive floats, so
// a warp reads and writes 32*W contiguous floats; block (cols = spb * C / W, kStreamRowLanes);
// each thread issues its kStreamRowsPerThread loads before its stores. Seed phase: the block's
// active seeds (stage read at the start, compacted in seed order) are taken by its warps in
// turn, one row of the tile per lane, the blueprint's parameters staged in the warp's shared
// memory when they fit; it overwrites the chunks the copy wrote (after a block barrier).
// Statistics: each thread accumulates its W columns; the block folds row lanes, then the seed's
// columns, in a fixed order into partials[(tile * S + s) * kMorphPartialStats + k]; TRAINING
// seeds add the tile's isolated loss at k = 4 (a fixed shuffle tree). After a fence each block
// takes a ticket of its column; the last one folds the column's tiles in tile order (f64) and
// resets the ticket. Deterministic: no float atomics, every order fixed.
#pragma once
#include <cstdint>

#include "kernels/morph/morph_kernel_common.cuh"
#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/seed_state.hpp"
#include "morph/stage.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops::cuda::morph_kernels {

inline constexpr int kStreamCols = 64;
inline constexpr int kStreamRowLanes = 4;
inline constexpr int kStreamThreads = kStreamCols * kStreamRowLanes;
inline constexpr int kStreamWarps = kStreamThreads / 32;
inline constexpr int kStreamRowsPerThread = static_cast<int>(kMorphRowsPerTile) / kStreamRowLanes;
inline constexpr int kStreamStats = 4;  // sum, sum of squares, dead count, max |x|
inline constexpr int kStreamMaxSeeds = kStreamCols;  // spb <= 64
inline constexpr int kWarpParamsMax = 512;  // parameter regions staged per warp up to this
static_assert(kMorphRowsPerTile == 32, "a warp of the seed phase is one row tile");
static_assert(kMorphRowsPerTile % kStreamRowLanes == 0, "row tile must split over the lanes");
static_assert(kStreamStats < kMorphPartialStats, "partials hold the statistics and the iso loss");

// Launch geometry for chunk width C and vector width W.
struct StreamGeometry {
  int units;  // threads per seed in the copy phase (C / W)
  int spb;    // seeds per block
  int cols;   // threads per row lane (spb * units)
};

inline StreamGeometry stream_geometry(int32_t C, int W) {
  StreamGeometry g{};
  g.units = C / W;
  g.spb = g.units >= kStreamCols ? 1 : kStreamCols / g.units;
  g.cols = g.spb * g.units;
  return g;
}

struct MorphStreamArgs {
  const float* src = nullptr;  // x (forward) or dy (backward)
  float* dst = nullptr;        // out or dx
  const float* x = nullptr;    // the layer input (backward blend)
  int64_t B = 0, H = 0;
  int32_t S = 0, C = 0, spb = 0;
  morph::BlueprintShape sh;
  morph::SeedStateView st;
  morph::PoolView<float> pool;
  const uint8_t* mask = nullptr;
  bool use_mask = false;
  bool collect = false;        // forward statistics
  bool vec_chunk = false;      // 16-byte chunk accesses in the seed phase
  bool stage_params = false;   // parameters staged per warp (region <= kWarpParamsMax)
  float dead_eps = 0.0f;
  float* partials = nullptr;
  int32_t* tickets = nullptr;  // [>= ceil(S / spb)], zero between launches
  int64_t tiles = 0;
  float* step_stats = nullptr;
  double* telemetry = nullptr;
};

template <int W>
struct StreamVec;
template <>
struct StreamVec<4> {
  using type = float4;
  __device__ static void add_stats(const float4& v, float eps, float& sum, float& sq, float& dead,
                                   float& mx) {
    const float e[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      sum += e[i];
      sq += e[i] * e[i];
      dead += fabsf(e[i]) < eps ? 1.0f : 0.0f;
      mx = fmaxf(mx, fabsf(e[i]));
    }
  }
};
template <>
struct StreamVec<1> {
  using type = float;
  __device__ static void add_stats(float v, float eps, float& sum, float& sq, float& dead,
                                   float& mx) {
    sum += v;
    sq += v * v;
    dead += fabsf(v) < eps ? 1.0f : 0.0f;
    mx = fmaxf(mx, fabsf(v));
  }
};

// Grid (ceil(S / spb), tiles), block (cols, kStreamRowLanes); dynamic shared memory as
// stream_smem_bytes().
template <int W, int CMAX, bool kBackward>
__global__ void __launch_bounds__(kStreamThreads, 3) morph_stream_kernel(const MorphStreamArgs a) {
  using V = typename StreamVec<W>::type;
  extern __shared__ float stream_smem[];
  __shared__ int32_t active[kStreamMaxSeeds];
  __shared__ int32_t n_active;
  __shared__ bool last_block;
  const int units = a.C / W;
  const int cols = blockDim.x;
  const int col = threadIdx.x;
  const int lane_y = threadIdx.y;
  const int tid = lane_y * cols + col;
  const int32_t s0 = blockIdx.x * a.spb;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kMorphRowsPerTile;

  // Which of the block's seeds have row work (their stage loads overlap the copy below).
  int32_t my_stage = 0;
  bool my_active = false;
  if (tid < a.spb && s0 + tid < a.S) {
    const int32_t s = s0 + tid;
    my_stage = a.st.stage[s];
    const float alpha = a.st.alpha[s];
    const bool blended = morph::stage_is_blended(my_stage) && alpha > 0.0f &&
                         !(!kBackward && a.use_mask && a.mask[s] != 0);
    const bool isolated = !kBackward && a.collect && morph::stage_trains_isolated(my_stage);
    my_active = blended || isolated;
  }

  // Copy phase (+ statistics).
  float sum = 0.0f, sq = 0.0f, dead = 0.0f, mx = 0.0f;
  const int32_t s_copy = s0 + col / units;
  if (s_copy < a.S) {
    const int64_t c0 = static_cast<int64_t>(s_copy) * a.C + static_cast<int64_t>(col % units) * W;
    const V* in = reinterpret_cast<const V*>(a.src + c0);
    V* out = reinterpret_cast<V*>(a.dst + c0);
    const int64_t ld = a.H / W;
    V v[kStreamRowsPerThread];
#pragma unroll
    for (int i = 0; i < kStreamRowsPerThread; ++i) {
      const int64_t r = row0 + lane_y + static_cast<int64_t>(i) * kStreamRowLanes;
      if (r < a.B) v[i] = __ldg(in + r * ld);
    }
#pragma unroll
    for (int i = 0; i < kStreamRowsPerThread; ++i) {
      const int64_t r = row0 + lane_y + static_cast<int64_t>(i) * kStreamRowLanes;
      if (r < a.B) {
        out[r * ld] = v[i];
        if (!kBackward && a.collect) StreamVec<W>::add_stats(v[i], a.dead_eps, sum, sq, dead, mx);
      }
    }
  }

  // Compact the active seeds in seed order (warp 0 holds the flags: spb <= 64 needs two
  // ballots).
  if (tid < 32) {
    const unsigned lo = __ballot_sync(0xffffffffu, my_active);
    const bool hi_active = [&] {
      const int t = tid + 32;
      if (t >= a.spb || s0 + t >= a.S) return false;
      const int32_t s = s0 + t;
      const int32_t stg = a.st.stage[s];
      const bool blended = morph::stage_is_blended(stg) && a.st.alpha[s] > 0.0f &&
                           !(!kBackward && a.use_mask && a.mask[s] != 0);
      return blended || (!kBackward && a.collect && morph::stage_trains_isolated(stg));
    }();
    const unsigned hi = __ballot_sync(0xffffffffu, hi_active);
    if (my_active) active[__popc(lo & ((1u << tid) - 1u))] = s0 + tid;
    if (hi_active) active[__popc(lo) + __popc(hi & ((1u << tid) - 1u))] = s0 + tid + 32;
    if (tid == 0) n_active = __popc(lo) + __popc(hi);
  }

  float* red = stream_smem;  // [k][lane][col] then [k][col]
  float* colred = red + kStreamStats * kStreamRowLanes * cols;
  float* wparams = colred + kStreamStats * cols;  // kStreamWarps * region when staged
  if (!kBackward && a.collect) {
    red[(0 * kStreamRowLanes + lane_y) * cols + col] = sum;
    red[(1 * kStreamRowLanes + lane_y) * cols + col] = sq;
    red[(2 * kStreamRowLanes + lane_y) * cols + col] = dead;
    red[(3 * kStreamRowLanes + lane_y) * cols + col] = mx;
  }
  __syncthreads();  // copies done (seed phase overwrites), flags and statistics visible
  if (!kBackward && a.collect) {
    if (lane_y < kStreamStats) {
      const int k = lane_y;
      float acc = red[(k * kStreamRowLanes) * cols + col];
      for (int l = 1; l < kStreamRowLanes; ++l) {
        const float v = red[(k * kStreamRowLanes + l) * cols + col];
        acc = k == 3 ? fmaxf(acc, v) : acc + v;
      }
      colred[k * cols + col] = acc;
    }
    __syncthreads();
    if (tid < kStreamStats * a.spb) {
      const int k = tid / a.spb, q = tid % a.spb;
      if (s0 + q < a.S) {
        const float* c = colred + k * cols + q * units;
        float acc = c[0];
        for (int u = 1; u < units; ++u) acc = k == 3 ? fmaxf(acc, c[u]) : acc + c[u];
        a.partials[(static_cast<int64_t>(blockIdx.y) * a.S + s0 + q) * kMorphPartialStats + k] =
            acc;
      }
    }
  }

  // Seed phase: full warp w takes active seeds w, w + nwarps, ...; lane = row of the tile.
  const int warp = tid / 32, lane = tid % 32;
  const int nwarps = static_cast<int>(blockDim.x * blockDim.y) / 32;  // full warps only
  for (int i = warp < nwarps ? warp : n_active; i < n_active; i += nwarps) {
    const int32_t s = active[i];
    const int32_t stage = a.st.stage[s];
    const float alpha = a.st.alpha[s];
    const bool blended = morph::stage_is_blended(stage) && alpha > 0.0f &&
                         !(!kBackward && a.use_mask && a.mask[s] != 0);
    const bool isolated = !kBackward && a.collect && morph::stage_trains_isolated(stage);
    const int32_t kind = a.st.blueprint[s];
    const float* params = nullptr;
    if (a.st.slot[s] >= 0) {
      params = a.pool.at(a.st.slot[s], morph::PoolRegion::params);
      if (a.stage_params) {
        float* mine = wparams + warp * a.pool.region;
        const int32_t P = morph::blueprint_param_count(kind, a.sh);
        for (int32_t p = lane; p < P; p += 32) mine[p] = params[p];
        __syncwarp();
        params = mine;
      }
    }
    const int64_t r = row0 + lane;
    float iso = 0.0f;
    if (r < a.B) {
      const int64_t off = r * a.H + static_cast<int64_t>(s) * a.C;
      float xr[CMAX];
      load_chunk<CMAX>(a.x + off, a.C, a.vec_chunk, xr);
      if constexpr (kBackward) {
        float g[CMAX], ga[CMAX], jt[CMAX];
        load_chunk<CMAX>(a.src + off, a.C, a.vec_chunk, g);
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c) {
          jt[c] = 0.0f;
          if (c < a.C) ga[c] = alpha * g[c];
        }
        morph::blueprint_backward<CMAX, float>(kind, a.sh, params, xr, ga, jt, nullptr);
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < a.C) g[c] = g[c] + jt[c];
        store_chunk<CMAX>(a.dst + off, a.C, a.vec_chunk, g);
      } else {
        float delta[CMAX];
        morph::blueprint_delta<CMAX, float>(kind, a.sh, params, xr, delta);
        if (isolated) {
          KASMINA_MORPH_UNROLL
          for (int c = 0; c < CMAX; ++c)
            if (c < a.C) iso += delta[c] * delta[c];
        }
        if (blended) {
          KASMINA_MORPH_UNROLL
          for (int c = 0; c < CMAX; ++c)
            if (c < a.C) xr[c] = xr[c] + alpha * delta[c];
          store_chunk<CMAX>(a.dst + off, a.C, a.vec_chunk, xr);
        }
      }
    }
    if (isolated) {  // the tile's isolated loss: a fixed shuffle tree, lane 0 writes it
      for (int o = 16; o > 0; o >>= 1) iso += __shfl_down_sync(0xffffffffu, iso, o);
      if (lane == 0)
        a.partials[(static_cast<int64_t>(blockIdx.y) * a.S + s) * kMorphPartialStats + 4] = iso;
    }
    __syncwarp();  // the staged parameters are reused by the warp's next seed
  }
  if (kBackward || !a.collect) return;

  // Last block of the column folds its seeds over all tiles.
  __threadfence();
  __syncthreads();
  if (tid == 0) last_block = atomicAdd(a.tickets + blockIdx.x, 1) == static_cast<int>(gridDim.y) - 1;
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  for (int q = warp < nwarps ? warp : a.spb; q < a.spb; q += nwarps) {
    const int32_t s = s0 + q;
    if (s >= a.S) break;
    const bool isolated = morph::stage_trains_isolated(a.st.stage[s]);
    double fs = 0.0, fq = 0.0, fd = 0.0, fm = 0.0, fi = 0.0;
    for (int64_t t = lane; t < a.tiles; t += 32) {
      const float* p = a.partials + (t * a.S + s) * kMorphPartialStats;
      fs += __ldcg(p + 0);
      fq += __ldcg(p + 1);
      fd += __ldcg(p + 2);
      fm = fmax(fm, static_cast<double>(__ldcg(p + 3)));
      if (isolated) fi += __ldcg(p + 4);
    }
    for (int o = 16; o > 0; o >>= 1) {
      fs += __shfl_xor_sync(0xffffffffu, fs, o);
      fq += __shfl_xor_sync(0xffffffffu, fq, o);
      fd += __shfl_xor_sync(0xffffffffu, fd, o);
      fm = fmax(fm, __shfl_xor_sync(0xffffffffu, fm, o));
      fi += __shfl_xor_sync(0xffffffffu, fi, o);
    }
    if (lane == 0) {
      const double n = static_cast<double>(a.B) * a.C;
      a.step_stats[s * kMorphStepStats + 0] = static_cast<float>(fq / n);
      a.step_stats[s * kMorphStepStats + 1] = static_cast<float>(fi / n);
      double* tel = a.telemetry + static_cast<int64_t>(s) * kMorphTelemetryStats;
      tel[0] += n;
      tel[1] += fs;
      tel[2] += fq;
      tel[3] += fd;
      tel[4] = fmax(tel[4], fm);
    }
  }
  if (tid == 0) a.tickets[blockIdx.x] = 0;
}

// Statistics scratch ([k][lane][col] and [k][col]; reserved in every mode, so the staged
// parameters have one offset) plus kStreamWarps parameter regions when staged.
inline size_t stream_smem_bytes(const StreamGeometry& g, bool stage_params, int32_t region) {
  size_t floats = static_cast<size_t>(kStreamStats) * (kStreamRowLanes + 1) * g.cols;
  if (stage_params) floats += static_cast<size_t>(kStreamWarps) * region;
  return sizeof(float) * floats;
}

// Fills the geometry-dependent fields of `a` (spb, stage_params, vec_chunk) and launches.
template <bool kBackward>
void launch_morph_stream(MorphStreamArgs a, cudaStream_t stream, const char* what) {
  const bool vec = a.C % 4 == 0 && aligned16(a.src) && aligned16(a.dst) &&
                   (a.x == nullptr || aligned16(a.x));
  const int W = vec ? 4 : 1;
  const StreamGeometry g = stream_geometry(a.C, W);
  a.spb = g.spb;
  a.vec_chunk = vec;
  a.stage_params = a.pool.region <= kWarpParamsMax;
  const dim3 grid(static_cast<unsigned>((a.S + g.spb - 1) / g.spb),
                  static_cast<unsigned>((a.B + kMorphRowsPerTile - 1) / kMorphRowsPerTile));
  const dim3 block(static_cast<unsigned>(g.cols), kStreamRowLanes);
  const size_t smem = stream_smem_bytes(g, a.stage_params, a.pool.region);
  dispatch_chunk(a.C, [&]<int CMAX>() {
    if (vec)
      morph_stream_kernel<4, CMAX, kBackward><<<grid, block, smem, stream>>>(a);
    else
      morph_stream_kernel<1, CMAX, kBackward><<<grid, block, smem, stream>>>(a);
  });
  KASMINA_LAUNCH_CHECK(what);
}

}  // namespace kasmina::ops::cuda::morph_kernels
