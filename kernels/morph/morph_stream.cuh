// The one-launch pass of the morph forward and of the backward input gradient over a
// [B, H = S*C] activation matrix.
//
// Forward  (kBackward = false): out = x for every seed, x + alpha * delta(x) for blended seeds
//   (GRAFTING..FOSSILIZED, alpha > 0, not masked); with statistics on, per-seed input statistics
//   (sum, sum of squares, dead count, max |x|) and the isolated loss |delta|^2 of TRAINING seeds
//   per row tile, folded into the step measurements and the telemetry.
// Backward (kBackward = true): dx = dy for every seed, dy + alpha * J^T dy for blended seeds.
//
// One 1-D grid, two kinds of block, so that the latency-bound blueprint rows overlap the
// bandwidth-bound copy instead of following it:
//  - seed blocks (the first S * G, G = ceil(B / kSeedRows)): block (s, g) computes rows
//    [g * kSeedRows, ...) of seed s, one per thread, with the blueprint's parameters staged in
//    shared memory; seeds without row work leave at once. Blended rows are written here; the
//    isolated loss of a TRAINING seed is summed per row tile (a warp is a tile: fixed shuffle
//    tree) into partials[tile][s][4].
//  - stream blocks (the rest): block (column c, tile t) copies the rows of tile t for the spb
//    seeds of column c, except the chunks of blended seeds (their seed blocks write those), and
//    with statistics on folds the tile's statistics per seed (row lanes, then the seed's
//    columns, fixed order) into partials[t][s][0..3]. A thread owns W consecutive floats of a row
//    (W = 4, one 16-byte access, when C % 4 == 0 and the pointers are 16-byte aligned; else 1),
//    so a warp reads and writes 32*W contiguous floats; each thread issues its
//    kStreamRowsPerThread loads before its stores.
// With statistics on, every block of column c (its tiles' stream blocks and its seeds' seed
// blocks) takes a ticket after a fence; the last one folds the column's seeds over all tiles in
// tile order (f64) and resets the ticket. Deterministic: no float atomics, every order fixed,
// and no two blocks write the same element.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/morph/morph_kernel_common.cuh"
#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/seed_state.hpp"
#include "morph/stage.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops::cuda::morph_kernels {

inline constexpr int kStreamThreads = 256;
inline constexpr int kStreamCols = 64;
inline constexpr int kStreamRowLanes = kStreamThreads / kStreamCols;
inline constexpr int kStreamRowsPerThread = static_cast<int>(kMorphRowsPerTile) / kStreamRowLanes;
inline constexpr int kStreamStats = 4;  // sum, sum of squares, dead count, max |x|
inline constexpr int kSeedRows = kStreamThreads;  // rows of a seed block, one per thread
static_assert(kMorphRowsPerTile == 32, "a warp of a seed block is one row tile");
static_assert(kMorphRowsPerTile % kStreamRowLanes == 0, "row tile must split over the lanes");
static_assert(kStreamStats < kMorphPartialStats, "partials hold the statistics and the iso loss");

struct MorphStreamArgs {
  const float* src = nullptr;  // x (forward) or dy (backward)
  float* dst = nullptr;        // out or dx
  const float* x = nullptr;    // the layer input (seed blocks)
  int64_t B = 0, H = 0;
  int32_t S = 0, C = 0;
  morph::BlueprintShape sh;
  morph::SeedStateView st;
  morph::PoolView<float> pool;
  const uint8_t* mask = nullptr;
  bool use_mask = false;
  bool collect = false;  // forward statistics
  float dead_eps = 0.0f;
  float* partials = nullptr;
  int32_t* tickets = nullptr;  // [>= columns], zero between launches
  float* step_stats = nullptr;
  double* telemetry = nullptr;
  // Geometry (set by launch_morph_stream).
  int32_t units = 0;        // stream threads per seed (C / W)
  int32_t spb = 0;          // seeds per column
  int32_t cols = 0;         // stream threads per row lane (spb * units)
  int32_t seed_groups = 0;  // G
  int64_t tiles = 0;
  bool vec_chunk = false;   // 16-byte chunk accesses in seed blocks
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

// Whether seed s's output (forward) or input gradient (backward) is blended.
template <bool kBackward>
__device__ __forceinline__ bool seed_blended(const MorphStreamArgs& a, int32_t s) {
  return morph::stage_is_blended(a.st.stage[s]) && a.st.alpha[s] > 0.0f &&
         !(!kBackward && a.use_mask && a.mask[s] != 0);
}

// Seed block (s, g). Block-uniform control flow.
template <int CMAX, bool kBackward>
__device__ void morph_seed_block(const MorphStreamArgs& a, int32_t s, int32_t g, float* smem) {
  const bool blended = seed_blended<kBackward>(a, s);
  const bool isolated =
      !kBackward && a.collect && morph::stage_trains_isolated(a.st.stage[s]);
  if (!blended && !isolated) return;
  const int32_t kind = a.st.blueprint[s];
  const float alpha = a.st.alpha[s];
  const float* params = nullptr;
  if (a.st.slot[s] >= 0) {
    const float* gp = a.pool.at(a.st.slot[s], morph::PoolRegion::params);
    const int32_t P = morph::blueprint_param_count(kind, a.sh);
    for (int32_t i = threadIdx.x; i < P; i += kSeedRows) smem[i] = gp[i];
    params = smem;
  }
  __syncthreads();
  const int64_t r = static_cast<int64_t>(g) * kSeedRows + threadIdx.x;
  float iso = 0.0f;
  if (r < a.B) {
    const int64_t off = r * a.H + static_cast<int64_t>(s) * a.C;
    float xr[CMAX];
    load_chunk<CMAX>(a.x + off, a.C, a.vec_chunk, xr);
    if constexpr (kBackward) {
      float gr[CMAX], ga[CMAX], jt[CMAX];
      load_chunk<CMAX>(a.src + off, a.C, a.vec_chunk, gr);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c) {
        jt[c] = 0.0f;
        if (c < a.C) ga[c] = alpha * gr[c];
      }
      morph::blueprint_backward<CMAX, float>(kind, a.sh, params, xr, ga, jt, nullptr);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < a.C) gr[c] = gr[c] + jt[c];
      store_chunk<CMAX>(a.dst + off, a.C, a.vec_chunk, gr);
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
  if (!isolated) return;
  for (int o = 16; o > 0; o >>= 1) iso += __shfl_down_sync(0xffffffffu, iso, o);
  const int64_t tile = (static_cast<int64_t>(g) * kSeedRows + threadIdx.x) / kMorphRowsPerTile;
  if ((threadIdx.x & 31) == 0 && tile * kMorphRowsPerTile < a.B)
    a.partials[(tile * a.S + s) * kMorphPartialStats + 4] = iso;
}

// Stream block (column, tile). Block-uniform control flow.
template <int W, bool kBackward>
__device__ void morph_stream_block(const MorphStreamArgs& a, int32_t column, int64_t tile,
                                   float* smem) {
  using V = typename StreamVec<W>::type;
  const int cols = a.cols, units = a.units;
  const int tid = static_cast<int>(threadIdx.x);
  const bool worker = tid < cols * kStreamRowLanes;
  const int col = tid % cols, lane_y = tid / cols;
  const int32_t s0 = column * a.spb;
  const int32_t s = s0 + col / units;
  const int64_t row0 = tile * kMorphRowsPerTile;
  const bool collect = !kBackward && a.collect;
  float sum = 0.0f, sq = 0.0f, dead = 0.0f, mx = 0.0f;
  if (worker && s < a.S) {
    const bool skip = seed_blended<kBackward>(a, s);  // its seed block writes the chunk
    const int64_t c0 = static_cast<int64_t>(s) * a.C + static_cast<int64_t>(col % units) * W;
    const V* in = reinterpret_cast<const V*>(a.src + c0);
    V* out = reinterpret_cast<V*>(a.dst + c0);
    const int64_t ld = a.H / W;
    if (!skip || collect) {
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
          if (!skip) out[r * ld] = v[i];
          if (collect) StreamVec<W>::add_stats(v[i], a.dead_eps, sum, sq, dead, mx);
        }
      }
    }
  }
  if (!collect) return;
  float* red = smem;  // [k][lane][col], then [k][col]
  float* colred = red + kStreamStats * kStreamRowLanes * cols;
  if (worker) {
    red[(0 * kStreamRowLanes + lane_y) * cols + col] = sum;
    red[(1 * kStreamRowLanes + lane_y) * cols + col] = sq;
    red[(2 * kStreamRowLanes + lane_y) * cols + col] = dead;
    red[(3 * kStreamRowLanes + lane_y) * cols + col] = mx;
  }
  __syncthreads();
  if (worker && lane_y < kStreamStats) {
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
      a.partials[(tile * a.S + s0 + q) * kMorphPartialStats + k] = acc;
    }
  }
}

// The column's seeds over all tiles, by the column's last block (warps over seeds, lanes over
// tiles in order, a fixed xor-shuffle tree).
__device__ inline void morph_fold_column(const MorphStreamArgs& a, int32_t column) {
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  constexpr int kWarps = kStreamThreads / 32;
  for (int q = warp; q < a.spb; q += kWarps) {
    const int32_t s = column * a.spb + q;
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
}

template <int W, int CMAX, bool kBackward>
__global__ void __launch_bounds__(kStreamThreads, 2) morph_stream_kernel(const MorphStreamArgs a) {
  extern __shared__ float stream_smem[];
  __shared__ bool last_block;
  const int64_t seed_blocks = static_cast<int64_t>(a.S) * a.seed_groups;
  int32_t column;
  if (static_cast<int64_t>(blockIdx.x) < seed_blocks) {
    const int32_t s = static_cast<int32_t>(blockIdx.x / a.seed_groups);
    column = s / a.spb;
    morph_seed_block<CMAX, kBackward>(a, s, static_cast<int32_t>(blockIdx.x % a.seed_groups),
                                      stream_smem);
  } else {
    const int64_t j = static_cast<int64_t>(blockIdx.x) - seed_blocks;
    column = static_cast<int32_t>(j / a.tiles);
    morph_stream_block<W, kBackward>(a, column, j % a.tiles, stream_smem);
  }
  if (kBackward || !a.collect) return;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const int32_t in_column = min(a.spb, a.S - column * a.spb);
    const int32_t expected = static_cast<int32_t>(a.tiles) + in_column * a.seed_groups;
    last_block = atomicAdd(a.tickets + column, 1) == expected - 1;
  }
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  morph_fold_column(a, column);
  if (threadIdx.x == 0) a.tickets[column] = 0;
}

// Fills the geometry of `a` and launches the kernel.
template <bool kBackward>
void launch_morph_stream(MorphStreamArgs a, cudaStream_t stream, const char* what) {
  const bool vec = a.C % 4 == 0 && aligned16(a.src) && aligned16(a.dst) && aligned16(a.x);
  const int W = vec ? 4 : 1;
  a.units = a.C / W;
  a.spb = a.units >= kStreamCols ? 1 : kStreamCols / a.units;
  a.cols = a.spb * a.units;
  a.seed_groups = static_cast<int32_t>((a.B + kSeedRows - 1) / kSeedRows);
  a.tiles = (a.B + kMorphRowsPerTile - 1) / kMorphRowsPerTile;
  a.vec_chunk = vec;
  const int64_t columns = (a.S + a.spb - 1) / a.spb;
  const int64_t blocks = static_cast<int64_t>(a.S) * a.seed_groups + columns * a.tiles;
  // Shared memory: the stream blocks' statistics scratch or a seed block's parameters.
  const size_t smem =
      sizeof(float) * std::max<size_t>(static_cast<size_t>(kStreamStats) * (kStreamRowLanes + 1) *
                                           static_cast<size_t>(a.cols),
                                       static_cast<size_t>(a.pool.region));
  dispatch_chunk(a.C, [&]<int CMAX>() {
    if (vec)
      morph_stream_kernel<4, CMAX, kBackward>
          <<<static_cast<unsigned>(blocks), kStreamThreads, smem, stream>>>(a);
    else
      morph_stream_kernel<1, CMAX, kBackward>
          <<<static_cast<unsigned>(blocks), kStreamThreads, smem, stream>>>(a);
  });
  KASMINA_LAUNCH_CHECK(what);
}

}  // namespace kasmina::ops::cuda::morph_kernels
