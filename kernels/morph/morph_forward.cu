// Fused forward of a morphogenetic layer: two kernels at the same time, and a third when the
// layer is too narrow for one block per column.
//  - The stream kernel (morph_stream.cuh): out = x for every chunk that is not blended, at
//    memory speed, with the per-seed input statistics (sum, sum of squares, dead count,
//    max |x|): finished in the kernel (step measurements, telemetry) when a block covers all
//    rows of its seeds, else per-(row tile, seed) partials.
//    Bytes: read x, write out (8*B*S*C) (+ 16*S*ceil(B/32) of partials).
//  - The seed kernel, launched as a programmatic dependent of the stream kernel (Hopper), so
//    that it runs beside the copy: a block per seed with work (blended: GRAFTING..FOSSILIZED,
//    alpha > 0, not masked; or TRAINING while collecting), found through the pool's slot table
//    (morph_kernel_common.cuh); each thread loads its rows while the block stages the blueprint
//    parameters in shared memory, then computes: blended seeds write x + alpha * delta(x) to
//    their chunk; TRAINING seeds sum their isolated loss |delta|^2 (a fixed-order block
//    reduction, f64) into the step measurements. Bytes: x and out of those seeds' chunks.
//  - For partials, the fold kernel (a programmatic dependent too): it waits for the grids
//    before it, then adds each seed's tile partials in tile order (f64).
// The latency-bound blueprint rows hide under the bandwidth-bound copy. No two kernels write the
// same element. Fixed reduction orders throughout: deterministic, no float atomics.
#include <cub/block/block_reduce.cuh>

#include "kernels/morph/morph_kernel_common.cuh"
#include "kernels/morph/morph_stream.cuh"
#include "ops/cuda/device_context.hpp"
#include "ops/morph/blueprint_module.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;
using namespace kasmina::ops::cuda::morph_kernels;

struct SeedForwardArgs {
  const void* x = nullptr;  // float, or bf16 (the seed kernel's element type)
  void* out = nullptr;
  int64_t B = 0, H = 0;
  BlueprintShape sh;
  SeedStateView st;
  PoolView<float> pool;
  const uint8_t* mask = nullptr;
  uint32_t gemm_kinds = 0;
  bool collect = false;
  bool vec = false;
  float* step_stats = nullptr;
  bool trigger = false;  // let the kernels queued after this one (IR seed kernels) start beside it
  int32_t staged = 0;    // floats of dynamic shared memory: a slot's parameters copied up front
  // In place (out is x): blended seeds save their input rows (saved, slot-major, saved_rows rows
  // of C a slot) and, when collecting, count their own input statistics (the stream kernel
  // skips their chunks) into the step measurements and the telemetry.
  bool in_place = false;
  void* saved = nullptr;
  int64_t saved_rows = 0;
  float dead_eps = 0.0f;
  double* telemetry = nullptr;
  // >= 0: only the seeds of this kind, computed as the built-in as_kind (morph_seed_forward_as);
  // -1: the seeds of the built-in kinds.
  int32_t only_kind = -1, as_kind = 0;
};

constexpr int kFoldThreads = 256;
constexpr int kFoldBatch = 8;  // tile partials a fold thread has in flight together

// Thread t adds statistic t % kStreamStats of seed t / kStreamStats over the row tiles in tile
// order (f64) and finishes it (finish_seed_stat).
__global__ void __launch_bounds__(kFoldThreads)
    morph_forward_fold_kernel(int64_t B, int32_t C, SeedStateView st,
                              const float* __restrict__ partials, int64_t tiles,
                              float* __restrict__ step_stats, double* __restrict__ telemetry,
                              const uint8_t* mask, uint32_t gemm_kinds, bool in_place) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * kFoldThreads + threadIdx.x;
  const int32_t s0 = static_cast<int32_t>(t / kStreamStats);
  // In place, a blended seed's statistics are the seed kernel's.
  const bool live = t < static_cast<int64_t>(st.seeds) * kStreamStats &&
                    !(in_place && seed_blended(seed_flags(st, s0, mask, gemm_kinds)));
  const int32_t s = live ? s0 : 0;
  const int k = static_cast<int>(t % kStreamStats);
  const StatPrior prior = load_stat_prior(st, s, k, telemetry);  // before the wait
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // The seed kernel before this one completes after the stream kernel: its partials are
  // complete and visible.
  cudaGridDependencySynchronize();
#endif
  if (!live) return;
  double acc = 0.0;
  for (int64_t i0 = 0; i0 < tiles; i0 += kFoldBatch) {
    float v[kFoldBatch];
#pragma unroll
    for (int j = 0; j < kFoldBatch; ++j)
      v[j] = i0 + j < tiles ? partials[((i0 + j) * st.seeds + s) * kMorphPartialStats + k] : 0.0f;
#pragma unroll
    for (int j = 0; j < kFoldBatch; ++j)
      if (i0 + j < tiles) acc = k == 3 ? fmax(acc, static_cast<double>(v[j])) : acc + v[j];
  }
  finish_seed_stat(B, C, s, k, acc, prior, step_stats, telemetry);
}

// One row of a seed: delta(x), the blend written when `blended` (element type E), |delta|^2
// added to iso.
template <int CMAX, class E>
__device__ __forceinline__ void seed_row(const SeedForwardArgs& a, int32_t kind,
                                         const float* params, float alpha, bool blended,
                                         const float (&xr)[CMAX], int64_t off, float& iso) {
  const int32_t C = a.sh.chunk;
  float delta[CMAX], o[CMAX];
  blueprint_delta<CMAX, float>(kind, a.sh, params, xr, delta);
  KASMINA_MORPH_UNROLL
  for (int c = 0; c < CMAX; ++c)
    if (c < C) {
      iso += delta[c] * delta[c];
      o[c] = xr[c] + alpha * delta[c];
    }
  if (blended) store_chunk<CMAX>(static_cast<E*>(a.out) + off, C, a.vec, o);
}

// In place, a blended seed's input statistics over all rows, finished as the stream kernel
// finishes the others: each thread's float32 partials widened to f64, added over a warp in a
// fixed shuffle order (the maximum exact), then over the warps in order by four threads (one a
// statistic) through `red` (kSeedThreads / 32 x kStreamStats doubles). All threads call it.
__device__ void finish_own_stats(const SeedForwardArgs& a, int32_t s, int32_t C, float sum,
                                 float sq, float dead, float mx, const StatPrior& prior,
                                 double* red) {
  double v[kStreamStats] = {sum, sq, dead, mx};
#pragma unroll
  for (int off = 16; off > 0; off /= 2) {
#pragma unroll
    for (int k = 0; k < kStreamStats; ++k) {
      const double o = __shfl_down_sync(0xffffffffu, v[k], off);
      v[k] = k == 3 ? fmax(v[k], o) : v[k] + o;
    }
  }
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  if (lane == 0) {
#pragma unroll
    for (int k = 0; k < kStreamStats; ++k) red[warp * kStreamStats + k] = v[k];
  }
  __syncthreads();
  if (threadIdx.x < kStreamStats) {
    const int k = static_cast<int>(threadIdx.x);
    double acc = red[k];
    for (int w = 1; w < kSeedThreads / 32; ++w) {
      const double o = red[w * kStreamStats + k];
      acc = k == 3 ? fmax(acc, o) : acc + o;
    }
    finish_seed_stat(a.B, C, s, k, acc, prior, a.step_stats, a.telemetry);
  }
}

// Grid: seed_kernel_blocks; dynamic shared memory: L.fused_region floats (the largest parameter
// count of the kinds it computes). E: the activations' element type (float or bf16; the
// blueprint and the blend in float32 either way).
template <int CMAX, bool EXACT, class E>
__global__ void __launch_bounds__(kSeedThreads)
    morph_seed_forward_kernel(const SeedForwardArgs args) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (args.trigger) cudaTriggerProgrammaticLaunchCompletion();
#endif
  SeedForwardArgs a = args;
  a.sh = exact_chunk<CMAX, EXACT>(args.sh);
  using Reduce = cub::BlockReduce<double, kSeedThreads>;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  __shared__ double own_red[kSeedThreads / 32 * kStreamStats];  // finish_own_stats
  extern __shared__ float sparams[];
  const SeedStateView& st = a.st;
  const int32_t C = a.sh.chunk;
  auto isolated = [&](const SeedFlags& f) { return a.collect & stage_trains_isolated(f.stage); };
  auto has_work = [&](const SeedFlags& f) {
    const bool mine = a.only_kind < 0 ? f.kind < kBlueprintKindCount  // IR: its module
                                      : f.kind == a.only_kind;
    return (seed_blended(f) | isolated(f)) & mine;
  };
  // kRows rows per thread per pass, all loaded before any is computed.
  constexpr int kRows = CMAX <= 16 ? 2 : 1;
  constexpr int64_t kPass = kRows * kSeedThreads;
  float xr[kRows][CMAX];
  auto load_pass = [&](int32_t s, int64_t r0) {
    const int64_t cs = static_cast<int64_t>(s) * C;
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int64_t r = r0 + static_cast<int64_t>(i) * kSeedThreads;
      if (r < a.B) load_chunk<CMAX>(static_cast<const E*>(a.x) + r * a.H + cs, C, a.vec, xr[i]);
    }
  };
  const bool own_stats = a.in_place & a.collect;
  const int32_t staged = a.staged < a.pool.region ? a.staged : a.pool.region;
  // Block b takes the slots b, b + gridDim.x, ... (morph_kernel_common.cuh). Three loads wait
  // on nothing but the slot, so they go first, together: the slot's owner, and the slot's
  // parameter region (as many floats as the shared memory holds, at least the blueprint's
  // parameters) copied asynchronously into shared memory. Once the owner s is known, its rows of
  // the first pass, its state and its statistics' priors are loaded together, before the block
  // knows whether s has work (unused when it has none): two memory round trips before the
  // first row is computed, where loading each after the one it seemed to need took four.
  for (int32_t slot = static_cast<int32_t>(blockIdx.x); slot < a.pool.slots;
       slot += static_cast<int32_t>(gridDim.x)) {
    const float* params = a.pool.at(slot, PoolRegion::params);
    for (int32_t i = static_cast<int32_t>(threadIdx.x); i < staged; i += kSeedThreads)
      __pipeline_memcpy_async(sparams + i, params + i, sizeof(float));
    __pipeline_commit();
    const int32_t s = a.pool.owner[slot];
    if (s < 0) {
      __pipeline_wait_prior(0);
      continue;
    }
    load_pass(s, threadIdx.x);
    __syncwarp();  // the state's loads after the rows' (as in morph_stream.cuh)
    const SeedFlags f = seed_flags(st, s, a.mask, a.gemm_kinds);
    StatPrior prior{};
    if (own_stats && threadIdx.x < kStreamStats)
      prior = load_stat_prior(st, s, static_cast<int>(threadIdx.x), a.telemetry);
    __pipeline_wait_prior(0);
    if (!has_work(f)) continue;
    const bool blended = seed_blended(f), iso_on = isolated(f);
    const int32_t kind = a.only_kind < 0 ? f.kind : a.as_kind;
    const int64_t cs = static_cast<int64_t>(s) * C;
    __syncthreads();  // every thread's part of the parameters is in shared memory
    float iso = 0.0f;
    const bool own = a.in_place & blended;  // saves its rows, counts its statistics
    float sum = 0.0f, sq = 0.0f, dead = 0.0f, mx = 0.0f;
    for (int64_t r0 = threadIdx.x; r0 < a.B; r0 += kPass) {
      if (r0 != threadIdx.x) load_pass(s, r0);
#pragma unroll
      for (int i = 0; i < kRows; ++i) {
        const int64_t r = r0 + static_cast<int64_t>(i) * kSeedThreads;
        if (r < a.B) {
          if (own) {
            store_chunk<CMAX>(static_cast<E*>(a.saved) + (slot * a.saved_rows + r) * C, C, a.vec,
                              xr[i]);
            KASMINA_MORPH_UNROLL
            for (int c = 0; c < CMAX; ++c)
              if (c < C) add_stat(xr[i][c], a.dead_eps, sum, sq, dead, mx);
          }
          seed_row<CMAX, E>(a, kind, sparams, f.alpha, blended, xr[i], r * a.H + cs, iso);
        }
      }
    }
    if (iso_on) {
      const double total = Reduce(reduce_tmp).Sum(static_cast<double>(iso));
      if (threadIdx.x == 0)
        a.step_stats[static_cast<int64_t>(s) * kMorphStepStats + 1] =
            static_cast<float>(total / (static_cast<double>(a.B) * C));
    }
    if (own && a.collect) finish_own_stats(a, s, C, sum, sq, dead, mx, prior, own_red);
    __syncthreads();  // the parameters and the reduction storage are reused by the next seed
  }
  complete_after_predecessor();  // the copy, which this kernel runs beside
}

// dependent: a programmatic dependent of the kernel queued before (the stream kernel, which it
// runs beside); else an ordinary launch.
template <class E>
void launch_seed_forward(const BlueprintShape& sh, const SeedForwardArgs& a, unsigned blocks,
                         size_t smem, cudaStream_t stream, bool dependent = true) {
  SeedForwardArgs b = a;
  b.staged = static_cast<int32_t>(smem / sizeof(float));
  dispatch_chunk(sh, [&]<int CMAX, bool EXACT>() {
    const auto kernel = morph_seed_forward_kernel<CMAX, EXACT, E>;
    opt_in_smem(kernel, smem);
    if (dependent)
      launch_programmatic(kernel, dim3(blocks), dim3(kSeedThreads), smem, stream, b);
    else
      kernel<<<blocks, kSeedThreads, smem, stream>>>(b);
  });
}

SeedForwardArgs seed_forward_args(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                                  const MorphForwardOptions& opt, int64_t B, bool vec) {
  return SeedForwardArgs{.x = x.raw(),
                         .out = out.raw(),
                         .B = B,
                         .H = morph_detail::morph_width(L),
                         .sh = L.shape,
                         .st = morph_detail::state_view(L),
                         .pool = morph_detail::pool_view<float>(L),
                         .mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr,
                         .gemm_kinds = L.gemm_kinds,
                         .collect = opt.collect_stats,
                         .vec = vec,
                         .step_stats = L.step_stats.data<float>()};
}

}  // namespace

void morph_seed_forward_as(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                           const MorphForwardOptions& opt, int32_t kind, int32_t as_kind,
                           bool dependent) {
  const int64_t B = x.dim(0);
  if (B == 0) return;
  const int32_t C = L.shape.chunk;
  SeedForwardArgs a = seed_forward_args(L, x, out, opt, B,
                                        C % 4 == 0 && aligned16(x.raw()) && aligned16(out.raw()));
  a.only_kind = kind;
  a.as_kind = as_kind;
  a.trigger = true;  // as an IR module's seed kernel: the next module's may start beside it
  DeviceContext& ctx = context(L.device());
  const size_t smem = sizeof(float) * static_cast<size_t>(blueprint_param_count(as_kind, L.shape));
  const unsigned blocks = seed_kernel_blocks(L.seeds, L.pool_slots, ctx.sms);
  launch_seed_forward<float>(L.shape, a, blocks, smem, ctx.stream, dependent);
  KASMINA_LAUNCH_CHECK("morph_seed_forward_kernel");
}

void morph_forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                   const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_forward", "x", true);
  KASMINA_CHECK(out.shape() == x.shape() && out.dtype() == x.dtype() && out.device() == x.device(),
                "morph_forward: out shape/dtype/device differs from x");
  if (opt.in_place) {
    KASMINA_CHECK(out.raw() == x.raw(), "morph_forward: in place, out must be x");
    morph_detail::check_saved(L, x, B, "morph_forward");
  } else {
    KASMINA_CHECK(out.raw() != x.raw(), "morph_forward: out may not alias x");
  }
  const bool half = x.dtype() == DType::bf16;
  KASMINA_CHECK(!half || L.modules.empty(),
                "morph_forward: bf16 activations with IR blueprints (their generated kernels read "
                "float32)");
  if (B == 0) return;
  const int64_t tiles = (B + kMorphRowsPerTile - 1) / kMorphRowsPerTile;
  KASMINA_CHECK(!opt.collect_stats || L.partials.dim(0) >= tiles,
                "morph_forward: batch larger than the layer was prepared for");
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  // 16-byte accesses: 4 floats or 8 bf16.
  const bool vec = C % (half ? 8 : 4) == 0 && aligned16(x.raw()) && aligned16(out.raw());
  // The copy kernel takes at most kRowChunk threads across a chunk: wider ones move 16-byte
  // vectors.
  KASMINA_CHECK(C <= kRowChunk || vec,
                "morph_forward: chunks wider than 64 need 16-byte aligned x and out" +
                    std::string(half ? " and, in bf16, a multiple of 8 wide" : ""));
  DeviceContext& ctx = context(L.device());
  const SeedStateView sv = morph_detail::state_view(L);
  const uint8_t* mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr;
  SeedForwardArgs f = seed_forward_args(L, x, out, opt, B, vec);
  if (opt.in_place) {
    f.in_place = true;
    f.saved = L.saved.raw();
    f.saved_rows = L.saved_rows;
    f.dead_eps = opt.dead_eps;
    f.telemetry = L.telemetry.data<double>();
  }
  const unsigned blocks = seed_kernel_blocks(L.seeds, L.pool_slots, ctx.sms);
  const size_t smem = sizeof(float) * morph_detail::fused_region(L);

  // The copy first; the seed kernel and the fold are programmatic dependents of the kernel
  // before them, so the seed kernel runs beside the copy (it does not read the copy's output).
  MorphStreamArgs a = stream_copy_args(sv, C, f.x, f.out, B, H);
  a.mask = mask;
  a.gemm_kinds = L.gemm_kinds;
  a.collect = opt.collect_stats;
  a.dead_eps = opt.dead_eps;
  a.partials = L.partials.data<float>();
  a.step_stats = f.step_stats;
  a.telemetry = L.telemetry.data<double>();
  a.in_place = opt.in_place;
  // In place without statistics the stream kernel has nothing to do.
  const bool stream = !opt.in_place || opt.collect_stats;
  bool final_stats = true;
  if (stream)
    final_stats =
        half ? launch_morph_stream_bf16(a, vec, ctx.sms, ctx.stream, "morph_forward_stream_kernel")
             : launch_morph_stream(a, vec, ctx.sms, ctx.stream, "morph_forward_stream_kernel");
  if (L.fused_seeds || L.modules.empty()) {
    SeedForwardArgs fa = f;
    fa.trigger = !L.modules.empty();
    if (half)
      launch_seed_forward<bf16>(L.shape, fa, blocks, smem, ctx.stream, stream);
    else
      launch_seed_forward<float>(L.shape, fa, blocks, smem, ctx.stream, stream);
  }
  // The seeds of blueprints outside the kind table (skipped above): their modules' seed kernels,
  // beside the copy as well (each a programmatic dependent of the kernel before it).
  for (const auto& m : L.modules) m->forward(L, x, out, opt, {.dependent = true});
  if (opt.collect_stats && !final_stats) {
    const unsigned fold_blocks = static_cast<unsigned>(
        (static_cast<int64_t>(L.seeds) * kStreamStats + kFoldThreads - 1) / kFoldThreads);
    launch_programmatic(morph_forward_fold_kernel, dim3(fold_blocks), dim3(kFoldThreads), 0,
                        ctx.stream, B, C, sv, static_cast<const float*>(a.partials), tiles,
                        a.step_stats, a.telemetry, mask, L.gemm_kinds, opt.in_place);
  }
}

}  // namespace kasmina::ops::cuda
