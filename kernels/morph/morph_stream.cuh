// The streaming pass of the morph kernels over a [B, H = S*C] activation matrix: dst = src for
// every seed whose chunk is not blended (forward: out = x; backward: dx = dy), with optional
// per-seed input statistics (sum, sum of squares, dead count, max |x|). The blended chunks are
// written by the per-seed kernels, which run at the same time (no two kernels write the same
// element): in the forward the seed kernel is a programmatic dependent of this one, in the
// backward this one is a programmatic dependent of the seed kernel (a.dependent; its first
// block then waits for the seed kernel's grid at its end).
//
// Elements are float32, or bf16 (the forward of bf16 activations: copied bit for bit, the
// statistics of their float values). Layout: a block covers spb whole seeds (a column) and a
// range of rows; a thread owns W consecutive elements of a row (16 bytes, W = 4 floats or 8
// bf16, when C % W == 0 and the pointers are 16-byte aligned; else W = 1), consecutive threads
// own consecutive elements, so a warp reads and writes 32*W contiguous elements; each thread
// issues a batch of row loads before its stores. With enough columns for every SM, a block
// covers all rows of its column (float32: 16 threads across — 4 seeds at C = 16, 256 bytes per
// row — and 16 row lanes; bf16: 8 threads across — 4 seeds at C = 16, 128 bytes — and 32 row
// lanes); else a block covers a kMorphRowsPerTile-row tile (64 threads across, 4 row lanes).
// Statistics: each thread accumulates its W columns; the block folds row lanes, then the seed's
// columns, in a fixed order; a block covering all rows finishes its seeds' statistics (step
// measurements, telemetry), a tile block writes partials[(tile * S + s) * kMorphPartialStats + k]
// that the fold kernel (morph_forward.cu) adds in tile order. Deterministic. Every block lets a
// programmatic dependent start as soon as it runs. In place (a.in_place, the forward of
// MorphForwardOptions::in_place): dst is null or src, nothing is stored, and the blended chunks
// are neither read nor counted (the seed kernel overwrites them and counts their statistics).
#pragma once
#include <cuda_pipeline.h>

#include <cstdint>

#include "core/bf16.hpp"
#include "kernels/morph/morph_kernel_common.cuh"
#include "morph/blueprint.hpp"
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
// One block per column: threads across a row (16 float4 = 256 contiguous bytes at C % 4 == 0;
// 8 measured slower, item 24 of bench/RESULTS.md). bf16 takes half as many (the same seeds per
// block, so as many columns as float32 has).
inline constexpr int kFullColumnCols = 16;
static_assert(kMorphRowsPerTile % kStreamRowLanes == 0, "row tile must split over the lanes");
static_assert(kStreamStats == kMorphPartialStats, "partials hold the stream statistics");

// The state of one seed the morph kernels decide on, read with plain loads (no
// short-circuits), so that a thread's loads for several seeds are in flight together.
struct SeedFlags {
  int32_t stage, slot, kind;
  float alpha;
  bool masked;
};
// A seed of a kind in gemm_kinds reads as DORMANT: the GEMM path computes it after these
// kernels (morph/seed_path.hpp).
__device__ __forceinline__ SeedFlags seed_flags(const morph::SeedStateView& st, int32_t s,
                                                const uint8_t* mask, uint32_t gemm_kinds) {
  SeedFlags f;
  f.kind = st.blueprint[s];
  f.stage = morph::on_gemm_path(gemm_kinds, f.kind) ? static_cast<int32_t>(morph::Stage::dormant)
                                                    : st.stage[s];
  f.slot = st.slot[s];
  f.alpha = st.alpha[s];
  f.masked = mask != nullptr && mask[s] != 0;
  return f;
}
// Seeds whose chunk a per-seed kernel writes: blended, and not masked to identity.
__device__ __forceinline__ bool seed_blended(const SeedFlags& f) {
  return morph::blend_applies(f.stage, f.alpha) & !f.masked;
}

struct MorphStreamArgs {
  const void* src = nullptr;  // float, or bf16 (the kernel's element type)
  void* dst = nullptr;
  int64_t B = 0, H = 0;
  int32_t S = 0, C = 0;
  morph::SeedStateView st;
  const uint8_t* mask = nullptr;  // forward in masked evaluation: masked seeds are copied
  uint32_t gemm_kinds = 0;        // seeds of these kinds are copied (the GEMM path blends them)
  bool in_place = false;          // blended chunks untouched (see the header comment)
  // Statistics (when collect): with one block per column (finalize) the block writes the step
  // measurements and the telemetry itself; else partials [tiles, S, kStreamStats] for the fold.
  bool collect = false;
  float dead_eps = 0.0f;
  float* partials = nullptr;
  float* step_stats = nullptr;
  double* telemetry = nullptr;
  // Geometry (set by launch_morph_stream).
  int spb = 0;
  int64_t rows_per_block = 0;
  bool finalize = false;
  bool dependent = false;  // launch as a programmatic dependent of the kernel queued before
};

// What finishing statistic k (0 sum, 1 sum of squares, 2 dead count, 3 max |x|) of seed s
// reads besides the statistic itself (the fold kernel loads it before it waits for the copy).
struct StatPrior {
  double count, value;  // telemetry[s][0] (k = 0) and telemetry[s][k + 1] before this step
  bool isolated;        // the seed trains in isolation (the seed kernel writes its loss)
};
__device__ __forceinline__ StatPrior load_stat_prior(const morph::SeedStateView& st, int32_t s,
                                                     int k, const double* telemetry) {
  const double* tel = telemetry + static_cast<int64_t>(s) * kMorphTelemetryStats;
  StatPrior p;
  p.count = k == 0 ? tel[0] : 0.0;
  p.value = tel[k + 1];
  p.isolated = morph::stage_trains_isolated(st.stage[s]);
  return p;
}

// The priors of a block's statistic threads (t < kStreamStats * spb), copied asynchronously into
// shared memory when the block starts, so that finishing the statistics after the copy costs no
// memory round trip: telemetry[s][0] and [k + 1] (doubles), then the stage (int) per thread.
struct PriorSlot {
  double count, value;
  int32_t stage;
};
__device__ __forceinline__ void prefetch_stat_prior(const morph::SeedStateView& st, int32_t s,
                                                    int k, const double* telemetry,
                                                    PriorSlot* slot) {
  const double* tel = telemetry + static_cast<int64_t>(s) * kMorphTelemetryStats;
  if (k == 0) __pipeline_memcpy_async(&slot->count, tel, sizeof(double));
  __pipeline_memcpy_async(&slot->value, tel + k + 1, sizeof(double));
  __pipeline_memcpy_async(&slot->stage, st.stage + s, sizeof(int32_t));
  __pipeline_commit();
}
__device__ __forceinline__ StatPrior prefetched_stat_prior(int k, const PriorSlot* slot) {
  __pipeline_wait_prior(0);
  StatPrior p;
  p.count = k == 0 ? slot->count : 0.0;
  p.value = slot->value;
  p.isolated = morph::stage_trains_isolated(slot->stage);
  return p;
}

// The end of statistic k of seed s over all rows (acc): the step measurements (input mean
// square; isolated loss 0 for seeds that do not train in isolation) and the telemetry.
__device__ __forceinline__ void finish_seed_stat(int64_t B, int32_t C, int32_t s, int k, double acc,
                                                 const StatPrior& prior, float* step_stats,
                                                 double* telemetry) {
  const double n = static_cast<double>(B) * C;
  float* step = step_stats + static_cast<int64_t>(s) * kMorphStepStats;
  double* tel = telemetry + static_cast<int64_t>(s) * kMorphTelemetryStats;
  switch (k) {
    case 0:
      tel[0] = prior.count + n;
      tel[1] = prior.value + acc;
      if (!prior.isolated) step[1] = 0.0f;
      break;
    case 1:
      tel[2] = prior.value + acc;
      step[0] = static_cast<float>(acc / n);
      break;
    case 2:
      tel[3] = prior.value + acc;
      break;
    default:
      tel[4] = fmax(prior.value, acc);
      break;
  }
}

// The copy src -> dst of a layer's activations [B, S*C] (no statistics, no mask).
inline MorphStreamArgs stream_copy_args(const morph::SeedStateView& st, int32_t C, const void* src,
                                        void* dst, int64_t B, int64_t H) {
  MorphStreamArgs a{.src = src, .dst = dst, .B = B, .H = H, .S = st.seeds, .C = C, .st = st};
  return a;
}

// The statistics of one value.
__device__ __forceinline__ void add_stat(float v, float eps, float& sum, float& sq, float& dead,
                                         float& mx) {
  sum += v;
  sq += v * v;
  dead += fabsf(v) < eps ? 1.0f : 0.0f;
  mx = fmaxf(mx, fabsf(v));
}

// A thread's access unit: W elements of type E, and the statistics of its values in order.
template <class E, int W>
struct StreamVec;
template <>
struct StreamVec<float, 1> {
  using type = float;
  __device__ static void add_stats(float v, float eps, float& sum, float& sq, float& dead,
                                   float& mx) {
    add_stat(v, eps, sum, sq, dead, mx);
  }
};
template <>
struct StreamVec<float, 4> {
  using type = float4;
  __device__ static void add_stats(const float4& v, float eps, float& sum, float& sq, float& dead,
                                   float& mx) {
    add_stat(v.x, eps, sum, sq, dead, mx);
    add_stat(v.y, eps, sum, sq, dead, mx);
    add_stat(v.z, eps, sum, sq, dead, mx);
    add_stat(v.w, eps, sum, sq, dead, mx);
  }
};
template <>
struct StreamVec<bf16, 1> {
  using type = uint16_t;
  __device__ static void add_stats(uint16_t v, float eps, float& sum, float& sq, float& dead,
                                   float& mx) {
    add_stat(bf16_bits_to_float(v), eps, sum, sq, dead, mx);
  }
};
template <>
struct StreamVec<bf16, 8> {
  using type = uint4;  // 8 bf16, the first in the low half of .x
  __device__ static void add_stats(const uint4& v, float eps, float& sum, float& sq, float& dead,
                                   float& mx) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      add_stat(bf16x2_low(w[i]), eps, sum, sq, dead, mx);
      add_stat(bf16x2_high(w[i]), eps, sum, sq, dead, mx);
    }
  }
};

// The kernel and its launchers have internal linkage: every translation unit that includes
// this header gets its own copy (whole-program device compilation), not a merged host stub.
namespace {

// Grid (columns of spb seeds, row blocks), block (spb * C / W, lanes): block (x, y) covers rows
// [y * rows_per_block, ...) of its seeds, lane l taking rows l, l + lanes, ... in batches of
// kStreamRowsPerThread (all loads of a batch before its stores). Dynamic shared memory
// 4 * kStreamStats * (lanes + 1) * blockDim.x bytes when collecting (+ the priors, PriorSlot per
// statistic thread, when finishing). At most 64 registers (4
// blocks of 256 threads per SM): an SM running two blocks of the whole-column layout keeps half
// its registers for a block of the seed kernel beside it (up to 128 registers x 256 threads).
template <class E, int W>
__device__ __forceinline__ void morph_stream_body(const MorphStreamArgs& a) {
  using V = typename StreamVec<E, W>::type;
  extern __shared__ float stream_smem[];
  const int units = a.C / W;
  const int cols = blockDim.x, lanes = blockDim.y;
  const int col = threadIdx.x;
  const int lane = threadIdx.y;
  const int32_t s = blockIdx.x * a.spb + col / units;
  const int64_t row_begin = static_cast<int64_t>(blockIdx.y) * a.rows_per_block;
  const int64_t row_end = row_begin + a.rows_per_block < a.B ? row_begin + a.rows_per_block : a.B;
  float sum = 0.0f, sq = 0.0f, dead = 0.0f, mx = 0.0f;
  // [k][lane][col], then the lane-folded [k][col] after it, then the statistic threads' priors.
  float* red = stream_smem;
  float* colred = stream_smem + kStreamStats * lanes * cols;
  PriorSlot* priors = reinterpret_cast<PriorSlot*>(colred + kStreamStats * cols);
  const int t = lane * cols + col;
  if (a.finalize &&
      t < kStreamStats * a.spb) {  // thread t finishes statistic t / spb of seed t % spb
    const int32_t seed = blockIdx.x * a.spb + t % a.spb;
    if (seed < a.S) prefetch_stat_prior(a.st, seed, t / a.spb, a.telemetry, priors + t);
  }
  // A thread past the last seed (a partial last column) loads and stores nothing.
  const bool live = s < a.S;
  const int64_t c0 =
      static_cast<int64_t>(live ? s : 0) * a.C + static_cast<int64_t>(col % units) * W;
  const int64_t ld = a.H / W;  // row stride in V units (H % W == 0 since C % W == 0)
  const V* src =
      reinterpret_cast<const V*>(static_cast<const E*>(a.src) + c0) + (row_begin + lane) * ld;
  V* dst = reinterpret_cast<V*>(static_cast<E*>(a.dst) + c0) + (row_begin + lane) * ld;
  const int64_t step = static_cast<int64_t>(lanes) * ld;  // between a thread's rows
  static_assert(kStreamRowsPerThread % 2 == 0, "the rows in flight split into two halves");
  // This thread's rows: lane, lane + lanes, ... of the block's rows (32-bit counts), in two
  // register halves of kHalf rows: the loads of one half stay in flight while the other half is
  // stored and its loads re-issued, so the thread never waits with no load in flight (one batch
  // of kStreamRowsPerThread drained to zero before its next loads). Rows are stored and added to
  // the statistics in the same order as in one batch.
  const int all_rows =
      live ? static_cast<int>((row_end - row_begin - lane + lanes - 1) / lanes) : 0;
  constexpr int kHalf = kStreamRowsPerThread / 2;
  const int64_t half = step * kHalf;  // between a thread's halves
  V va[kHalf], vb[kHalf];
  auto load = [&](V(&v)[kHalf], const V* p, int n) {  // the first min(n, kHalf) rows at p
#pragma unroll
    for (int i = 0; i < kHalf; ++i)
      if (i < n) v[i] = __ldg(p + i * step);
  };
  // The first rows are loaded before the seed's state, so that both are in flight at once (one
  // memory round trip before the rows instead of two); in place, a blended seed's are not used.
  // The whole warp's __syncwarp keeps the compiler from hoisting the state's loads, and a wait
  // for them, above the rows' (which it did: bench/RESULTS.md, forty-second session).
  load(va, src, all_rows);
  load(vb, src + half, all_rows - kHalf);
  __syncwarp();
  if (live) {
    const bool skip = seed_blended(seed_flags(a.st, s, a.mask, a.gemm_kinds));
    const bool store = !skip && !a.in_place;
    const int rows = skip && a.in_place ? 0 : all_rows;
    auto consume = [&](const V(&v)[kHalf], V* p, int n) {
#pragma unroll
      for (int i = 0; i < kHalf; ++i) {
        if (i < n) {
          if (store) p[i * step] = v[i];
          if (a.collect) StreamVec<E, W>::add_stats(v[i], a.dead_eps, sum, sq, dead, mx);
        }
      }
    };
    for (int r = 0; r < rows; r += 2 * kHalf, src += 2 * half, dst += 2 * half) {
      consume(va, dst, rows - r);
      load(va, src + 2 * half, rows - r - 2 * kHalf);
      consume(vb, dst + half, rows - r - kHalf);
      load(vb, src + 3 * half, rows - r - 3 * kHalf);
    }
  }
  if (!a.collect) return;
  red[(0 * lanes + lane) * cols + col] = sum;
  red[(1 * lanes + lane) * cols + col] = sq;
  red[(2 * lanes + lane) * cols + col] = dead;
  red[(3 * lanes + lane) * cols + col] = mx;
  __syncthreads();
  if (lane < kStreamStats) {  // lane k folds statistic k of its column over the row lanes
    const int k = lane;
    float acc = red[(k * lanes) * cols + col];
    for (int l = 1; l < lanes; ++l) {
      const float x = red[(k * lanes + l) * cols + col];
      acc = k == 3 ? fmaxf(acc, x) : acc + x;
    }
    colred[k * cols + col] = acc;
  }
  __syncthreads();
  if (t < kStreamStats * a.spb) {  // thread t folds statistic t / spb of seed t % spb
    const int k = t / a.spb;
    const int32_t seed = blockIdx.x * a.spb + t % a.spb;
    if (seed < a.S) {
      const float* c = colred + k * cols + (t % a.spb) * units;
      float acc = c[0];
      for (int u = 1; u < units; ++u) acc = k == 3 ? fmaxf(acc, c[u]) : acc + c[u];
      // In place, a blended seed's statistics are the seed kernel's (its prior is still waited
      // for: no copy into shared memory outlives the thread).
      const bool mine = !(a.in_place && seed_blended(seed_flags(a.st, seed, a.mask, a.gemm_kinds)));
      if (a.finalize) {
        const StatPrior prior = prefetched_stat_prior(k, priors + t);
        if (mine) finish_seed_stat(a.B, a.C, seed, k, acc, prior, a.step_stats, a.telemetry);
      } else if (mine) {
        a.partials[(static_cast<int64_t>(blockIdx.y) * a.S + seed) * kMorphPartialStats + k] = acc;
      }
    }
  }
}

template <class E, int W>
__global__ void __launch_bounds__(kStreamThreads, 4) morph_stream_kernel(const MorphStreamArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
  morph_stream_body<E, W>(a);
  if (a.dependent) complete_after_predecessor();
}

// Launches the stream kernel on `stream` (a.dst = a.src except blended chunks, the statistics
// when a.collect). Two layouts: when there are at least `sms` columns of kFullColumnCols
// threads, a block per column covers all rows and finishes its seeds' statistics itself (no
// partials, no fold); else blocks of kMorphRowsPerTile-row tiles write partials for the fold
// kernel. Returns whether the statistics are final.
template <class E, int W>
bool launch_morph_stream(MorphStreamArgs a, int sms, cudaStream_t stream, const char* what) {
  const int units = a.C / W;
  const int full_cols = sizeof(E) == 2 ? kFullColumnCols / 2 : kFullColumnCols;
  const int full_spb = units >= full_cols ? 1 : full_cols / units;
  const int64_t full_columns = (a.S + full_spb - 1) / full_spb;
  int lanes;
  dim3 grid;
  if (full_columns >= sms) {
    a.spb = full_spb;
    lanes = kStreamThreads / (a.spb * units);
    a.rows_per_block = a.B;
    grid = dim3(static_cast<unsigned>(full_columns), 1);
  } else {
    a.spb = units >= kStreamCols ? 1 : kStreamCols / units;
    lanes = kStreamRowLanes;
    a.rows_per_block = kMorphRowsPerTile;
    grid = dim3(static_cast<unsigned>((a.S + a.spb - 1) / a.spb),
                static_cast<unsigned>((a.B + kMorphRowsPerTile - 1) / kMorphRowsPerTile));
  }
  a.finalize = a.collect && grid.y == 1;
  const int cols = a.spb * units;
  const size_t stats_bytes =
      a.collect ? sizeof(float) * kStreamStats * (lanes + 1) * static_cast<size_t>(cols) +
                      (a.finalize ? sizeof(PriorSlot) * kStreamStats * a.spb : 0)
                : 0;
  const dim3 block(static_cast<unsigned>(cols), static_cast<unsigned>(lanes));
  if (a.dependent)
    launch_programmatic(morph_stream_kernel<E, W>, grid, block, stats_bytes, stream, a);
  else
    morph_stream_kernel<E, W><<<grid, block, stats_bytes, stream>>>(a);
  KASMINA_LAUNCH_CHECK(what);
  return a.finalize;
}

// float32 elements; vec: 16-byte accesses (C % 4 == 0, 16-byte aligned pointers).
bool launch_morph_stream(const MorphStreamArgs& a, bool vec, int sms, cudaStream_t stream,
                         const char* what) {
  return vec ? launch_morph_stream<float, 4>(a, sms, stream, what)
             : launch_morph_stream<float, 1>(a, sms, stream, what);
}
// bf16 elements; vec: 16-byte accesses (C % 8 == 0, 16-byte aligned pointers).
[[maybe_unused]] bool launch_morph_stream_bf16(const MorphStreamArgs& a, bool vec, int sms,
                                               cudaStream_t stream, const char* what) {
  return vec ? launch_morph_stream<bf16, 8>(a, sms, stream, what)
             : launch_morph_stream<bf16, 1>(a, sms, stream, what);
}

}  // namespace

}  // namespace kasmina::ops::cuda::morph_kernels
