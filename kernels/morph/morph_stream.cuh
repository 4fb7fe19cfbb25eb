// The streaming passes of the morph kernels over a [B, H = S*C] activation matrix.
//
// morph_stream_kernel (forward): out = x with optional per-seed input statistics (sum, sum of
//   squares, dead count, max |x|) per row tile; the forward's seed kernel then rewrites the few
//   blended chunks.
// morph_input_grad_kernel (backward): dx = dy for every seed and dy + alpha * J^T dy for blended
//   seeds in one launch with two kinds of block, so that the latency-bound blueprint rows overlap
//   the bandwidth-bound copy: seed blocks (the first S * G, G = ceil(B / kInputGradSeedRows); block
//   (s, g) computes rows [g * kInputGradSeedRows, ...) of a blended seed, one per thread,
//   parameters staged in shared memory; other seeds leave at once) and copy blocks that skip the
//   blended chunks (no two blocks write the same element).
//
// Copy layout (both): a block covers spb whole seeds (a column) and one kMorphRowsPerTile-row
// tile; a thread owns W consecutive floats of a row (W = 4, one 16-byte access, when C % 4 == 0
// and the pointers are 16-byte aligned; else 1), consecutive threads own consecutive floats, so
// a warp reads and writes 32*W contiguous floats; each thread issues its kStreamRowsPerThread
// loads before its stores. Statistics: each thread accumulates its W columns; the block folds
// row lanes, then the seed's columns, in a fixed order into
// partials[(tile * S + s) * kMorphPartialStats + k] (k < kStreamStats). Deterministic.
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

inline constexpr int kStreamCols = 64;
inline constexpr int kStreamRowLanes = 4;
inline constexpr int kStreamRowsPerThread = static_cast<int>(kMorphRowsPerTile) / kStreamRowLanes;
inline constexpr int kStreamStats = 4;  // sum, sum of squares, dead count, max |x|
inline constexpr int kStreamThreads = kStreamCols * kStreamRowLanes;
inline constexpr int kInputGradSeedRows = kStreamThreads;  // rows of a seed block, one per thread
static_assert(kMorphRowsPerTile % kStreamRowLanes == 0, "row tile must split over the lanes");
static_assert(kStreamStats <= kMorphPartialStats, "partials hold the stream statistics");

// Launch geometry of the stream kernel for chunk width C and vector width W.
struct StreamGeometry {
  int units;  // threads per seed (C / W)
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

template <int W>
struct StreamVec;
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
template <>
struct StreamVec<4> {
  using type = float4;
  __device__ static void add_stats(const float4& v, float eps, float& sum, float& sq, float& dead,
                                   float& mx) {
    StreamVec<1>::add_stats(v.x, eps, sum, sq, dead, mx);
    StreamVec<1>::add_stats(v.y, eps, sum, sq, dead, mx);
    StreamVec<1>::add_stats(v.z, eps, sum, sq, dead, mx);
    StreamVec<1>::add_stats(v.w, eps, sum, sq, dead, mx);
  }
};

// One thread's share of a copy block: rows row0 + lane, row0 + lane + kStreamRowLanes, ... of
// the W floats at c0; all loads before the stores; stores skipped when `skip`; statistics added
// when `stats`.
template <int W>
__device__ __forceinline__ void copy_rows(const float* __restrict__ src, float* __restrict__ dst,
                                          int64_t B, int64_t H, int64_t c0, int64_t row0, int lane,
                                          bool skip, bool stats, float dead_eps, float& sum,
                                          float& sq, float& dead, float& mx) {
  using V = typename StreamVec<W>::type;
  const V* in = reinterpret_cast<const V*>(src + c0);
  V* out = reinterpret_cast<V*>(dst + c0);
  const int64_t ld = H / W;  // row stride in V units (H % W == 0 since C % W == 0)
  V v[kStreamRowsPerThread];
#pragma unroll
  for (int i = 0; i < kStreamRowsPerThread; ++i) {
    const int64_t r = row0 + lane + static_cast<int64_t>(i) * kStreamRowLanes;
    if (r < B) v[i] = __ldg(in + r * ld);
  }
#pragma unroll
  for (int i = 0; i < kStreamRowsPerThread; ++i) {
    const int64_t r = row0 + lane + static_cast<int64_t>(i) * kStreamRowLanes;
    if (r < B) {
      if (!skip) out[r * ld] = v[i];
      if (stats) StreamVec<W>::add_stats(v[i], dead_eps, sum, sq, dead, mx);
    }
  }
}

// Grid (ceil(S / spb), row tiles), block (cols, kStreamRowLanes); dynamic shared memory
// 4 * kStreamStats * (kStreamRowLanes + 1) * cols bytes when collecting.
template <int W>
__global__ void __launch_bounds__(kStreamCols* kStreamRowLanes)
    morph_stream_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t B,
                        int64_t H, int32_t S, int32_t C, int spb, bool collect, float dead_eps,
                        float* __restrict__ partials) {
  extern __shared__ float stream_smem[];
  const int units = C / W;
  const int cols = blockDim.x;
  const int col = threadIdx.x;
  const int lane = threadIdx.y;
  const int32_t s = blockIdx.x * spb + col / units;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kMorphRowsPerTile;
  float sum = 0.0f, sq = 0.0f, dead = 0.0f, mx = 0.0f;
  if (s < S) {
    const int64_t c0 = static_cast<int64_t>(s) * C + static_cast<int64_t>(col % units) * W;
    copy_rows<W>(src, dst, B, H, c0, row0, lane, false, collect, dead_eps, sum, sq, dead, mx);
  }
  if (!collect) return;
  // [k][lane][col], then the lane-folded [k][col] after it.
  float* red = stream_smem;
  float* colred = stream_smem + kStreamStats * kStreamRowLanes * cols;
  red[(0 * kStreamRowLanes + lane) * cols + col] = sum;
  red[(1 * kStreamRowLanes + lane) * cols + col] = sq;
  red[(2 * kStreamRowLanes + lane) * cols + col] = dead;
  red[(3 * kStreamRowLanes + lane) * cols + col] = mx;
  __syncthreads();
  if (lane < kStreamStats) {  // lane k folds statistic k of its column over the row lanes
    const int k = lane;
    float acc = red[(k * kStreamRowLanes) * cols + col];
    for (int l = 1; l < kStreamRowLanes; ++l) {
      const float x = red[(k * kStreamRowLanes + l) * cols + col];
      acc = k == 3 ? fmaxf(acc, x) : acc + x;
    }
    colred[k * cols + col] = acc;
  }
  __syncthreads();
  const int t = lane * cols + col;
  if (t < kStreamStats * spb) {  // thread t folds statistic t / spb of seed t % spb
    const int k = t / spb, q = t % spb;
    const int32_t seed = blockIdx.x * spb + q;
    if (seed < S) {
      const float* c = colred + k * cols + q * units;
      float acc = c[0];
      for (int u = 1; u < units; ++u) acc = k == 3 ? fmaxf(acc, c[u]) : acc + c[u];
      partials[(static_cast<int64_t>(blockIdx.y) * S + seed) * kMorphPartialStats + k] = acc;
    }
  }
}

// dst = src (and the statistics when collect) over all rows and seeds: one launch.
inline void launch_morph_stream(const float* src, float* dst, int64_t B, int64_t H, int32_t S,
                                int32_t C, bool collect, float dead_eps, float* partials,
                                cudaStream_t stream, const char* what) {
  const bool vec = C % 4 == 0 && aligned16(src) && aligned16(dst);
  const int W = vec ? 4 : 1;
  const StreamGeometry g = stream_geometry(C, W);
  const dim3 grid(static_cast<unsigned>((S + g.spb - 1) / g.spb),
                  static_cast<unsigned>((B + kMorphRowsPerTile - 1) / kMorphRowsPerTile));
  const dim3 block(static_cast<unsigned>(g.cols), kStreamRowLanes);
  const size_t smem =
      collect ? sizeof(float) * kStreamStats * (kStreamRowLanes + 1) * static_cast<size_t>(g.cols)
              : 0;
  if (vec)
    morph_stream_kernel<4>
        <<<grid, block, smem, stream>>>(src, dst, B, H, S, C, g.spb, collect, dead_eps, partials);
  else
    morph_stream_kernel<1>
        <<<grid, block, smem, stream>>>(src, dst, B, H, S, C, g.spb, collect, dead_eps, partials);
  KASMINA_LAUNCH_CHECK(what);
}

// Arguments of the one-launch input gradient.
struct MorphInputGradArgs {
  const float* dy = nullptr;
  float* dx = nullptr;
  const float* x = nullptr;
  int64_t B = 0, H = 0;
  int32_t S = 0, C = 0;
  morph::BlueprintShape sh;
  morph::SeedStateView st;
  morph::PoolView<float> pool;
  // Geometry (set by launch_morph_input_grad).
  int32_t units = 0, spb = 0, cols = 0, seed_groups = 0;
  int64_t tiles = 0;
  bool vec_chunk = false;
};

__device__ __forceinline__ bool grad_blended(const MorphInputGradArgs& a, int32_t s) {
  return morph::blend_applies(a.st.stage[s], a.st.alpha[s]);
}

// Seed block (s, g): rows [g * kInputGradSeedRows, ...) of a blended seed get dy + alpha * J^T dy.
template <int CMAX>
__device__ void input_grad_seed_block(const MorphInputGradArgs& a, int32_t s, int32_t g,
                                      float* smem) {
  if (!grad_blended(a, s)) return;  // block-uniform
  const int32_t kind = a.st.blueprint[s];
  const float alpha = a.st.alpha[s];
  const float* params = nullptr;
  if (a.st.slot[s] >= 0) {
    stage_params(a.pool.at(a.st.slot[s], morph::PoolRegion::params),
                 morph::blueprint_param_count(kind, a.sh), smem, threadIdx.x, kInputGradSeedRows);
    params = smem;
  }
  __syncthreads();
  const int64_t r = static_cast<int64_t>(g) * kInputGradSeedRows + threadIdx.x;
  if (r >= a.B) return;
  const int64_t off = r * a.H + static_cast<int64_t>(s) * a.C;
  float xr[CMAX], gr[CMAX], ga[CMAX], jt[CMAX];
  load_chunk<CMAX>(a.x + off, a.C, a.vec_chunk, xr);
  load_chunk<CMAX>(a.dy + off, a.C, a.vec_chunk, gr);
  KASMINA_MORPH_UNROLL
  for (int c = 0; c < CMAX; ++c) {
    jt[c] = 0.0f;
    if (c < a.C) ga[c] = alpha * gr[c];
  }
  morph::blueprint_backward<CMAX, float>(kind, a.sh, params, xr, ga, jt, nullptr);
  KASMINA_MORPH_UNROLL
  for (int c = 0; c < CMAX; ++c)
    if (c < a.C) gr[c] = gr[c] + jt[c];
  store_chunk<CMAX>(a.dx + off, a.C, a.vec_chunk, gr);
}

// 1-D grid: S * G seed blocks, then columns * tiles copy blocks; kStreamThreads threads.
template <int W, int CMAX>
__global__ void __launch_bounds__(kStreamThreads, 2)
    morph_input_grad_kernel(const MorphInputGradArgs a) {
  extern __shared__ float grad_stream_smem[];
  const int64_t seed_blocks = static_cast<int64_t>(a.S) * a.seed_groups;
  if (static_cast<int64_t>(blockIdx.x) < seed_blocks) {
    input_grad_seed_block<CMAX>(a, static_cast<int32_t>(blockIdx.x / a.seed_groups),
                                static_cast<int32_t>(blockIdx.x % a.seed_groups), grad_stream_smem);
    return;
  }
  const int64_t j = static_cast<int64_t>(blockIdx.x) - seed_blocks;
  const int32_t column = static_cast<int32_t>(j / a.tiles);
  const int tid = static_cast<int>(threadIdx.x);
  if (tid >= a.cols * kStreamRowLanes) return;
  const int col = tid % a.cols, lane = tid / a.cols;
  const int32_t s = column * a.spb + col / a.units;
  if (s >= a.S) return;
  const int64_t c0 = static_cast<int64_t>(s) * a.C + static_cast<int64_t>(col % a.units) * W;
  float unused = 0.0f;
  copy_rows<W>(a.dy, a.dx, a.B, a.H, c0, (j % a.tiles) * kMorphRowsPerTile, lane,
               grad_blended(a, s), false, 0.0f, unused, unused, unused, unused);
}

inline void launch_morph_input_grad(MorphInputGradArgs a, cudaStream_t stream) {
  const bool vec = a.C % 4 == 0 && aligned16(a.dy) && aligned16(a.dx) && aligned16(a.x);
  const int W = vec ? 4 : 1;
  const StreamGeometry g = stream_geometry(a.C, W);
  a.units = g.units;
  a.spb = g.spb;
  a.cols = g.cols;
  a.seed_groups = static_cast<int32_t>((a.B + kInputGradSeedRows - 1) / kInputGradSeedRows);
  a.tiles = (a.B + kMorphRowsPerTile - 1) / kMorphRowsPerTile;
  a.vec_chunk = vec;
  const int64_t columns = (a.S + a.spb - 1) / a.spb;
  const int64_t blocks = static_cast<int64_t>(a.S) * a.seed_groups + columns * a.tiles;
  const size_t smem = sizeof(float) * static_cast<size_t>(a.pool.region);  // seed blocks
  dispatch_chunk(a.C, [&]<int CMAX>() {
    if (vec)
      morph_input_grad_kernel<4, CMAX>
          <<<static_cast<unsigned>(blocks), kStreamThreads, smem, stream>>>(a);
    else
      morph_input_grad_kernel<1, CMAX>
          <<<static_cast<unsigned>(blocks), kStreamThreads, smem, stream>>>(a);
  });
  KASMINA_LAUNCH_CHECK("morph_input_grad_kernel");
}

}  // namespace kasmina::ops::cuda::morph_kernels
