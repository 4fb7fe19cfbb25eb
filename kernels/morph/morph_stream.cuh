// The streaming pass of the morph kernels: dst = src over a [B, H = S*C] activation matrix, with
// optional per-seed input statistics (sum, sum of squares, dead count, max |x|) per row tile.
// Used by the forward (x -> out, statistics at the telemetry cadence) and by the backward
// (dy -> dx, no statistics); the per-seed kernels then rewrite the few blended chunks.
//
// Coalesced layout: a thread owns W consecutive floats of a row (W = 4, one 16-byte access, when
// C % 4 == 0 and the pointers are 16-byte aligned; else W = 1), consecutive threads own
// consecutive floats, so a warp reads and writes 32*W contiguous floats. A block is
// (cols, kStreamRowLanes) threads: cols = spb * (C / W) columns covering spb whole seeds
// (spb = max(1, kStreamCols / (C / W))), rows of one kMorphRowsPerTile tile split over the row
// lanes. Each thread loads all of its rows before it stores any (kStreamRowsPerThread 16-byte
// loads in flight per thread).
// Statistics: each thread accumulates its W columns over its rows; the block folds row lanes,
// then the seed's columns, in a fixed order, into partials[(tile * S + s) * kMorphPartialStats
// + k] (k < kStreamStats). Deterministic, no atomics.
#pragma once
#include <cstdint>

#include "ops/cuda/cuda_common.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops::cuda::morph_kernels {

inline constexpr int kStreamCols = 64;
inline constexpr int kStreamRowLanes = 4;
inline constexpr int kStreamRowsPerThread = static_cast<int>(kMorphRowsPerTile) / kStreamRowLanes;
inline constexpr int kStreamStats = 4;  // sum, sum of squares, dead count, max |x|
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

// Grid (ceil(S / spb), row tiles), block (cols, kStreamRowLanes); dynamic shared memory
// 4 * kStreamStats * (kStreamRowLanes + 1) * cols bytes when collecting.
template <int W>
__global__ void __launch_bounds__(kStreamCols* kStreamRowLanes)
    morph_stream_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t B,
                        int64_t H, int32_t S, int32_t C, int spb, bool collect, float dead_eps,
                        float* __restrict__ partials) {
  using V = typename StreamVec<W>::type;
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
        out[r * ld] = v[i];
        if (collect) StreamVec<W>::add_stats(v[i], dead_eps, sum, sq, dead, mx);
      }
    }
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
  const bool vec = C % 4 == 0 && (reinterpret_cast<uintptr_t>(src) & 15u) == 0 &&
                   (reinterpret_cast<uintptr_t>(dst) & 15u) == 0;
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

}  // namespace kasmina::ops::cuda::morph_kernels
