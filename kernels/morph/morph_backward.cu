// Fused backward of a morphogenetic layer: two kernels that run at the same time.
//  - The seed kernel, queued first (an ordinary launch that lets its dependent start at once):
//    a block per seed with work (blended, when dx is wanted; training, when parameter gradients
//    are), found through the pool's slot table (morph_kernel_common.cuh), its parameters staged in
//    shared memory while its first rows load. It walks the rows in tiles of up to kSeedThreads
//    rows, one row per thread:
//      phase A: g = alpha * dy (or, for TRAINING, the isolated reconstruction gradient
//               2/(B*C) * delta(x), or under the task_gradient objective dy itself, straight
//               through, each row adding <delta(x), dy> to the thread's sum, reduced into
//               step_stats[s][1] at the end); blended seeds write dx = dy + J^T g to their chunk;
//               training seeds write the row's gradient factors (src/morph/blueprint.hpp) to
//               shared memory;
//      phase B: thread i adds parameter i's products of factors over the tile's rows in row
//               order (two interleaved chains) into a register accumulator.
//    At the end the gradients go to the slot's gradient region (zero past the parameter count)
//    and grad_norm[s] = their norm (a fixed-order block reduction); seeds that do not train get
//    grad_norm 0. Bytes: x and dy of those seeds' chunks, dx of the blended ones, their
//    parameters.
//  - When dx is wanted, the stream kernel (morph_stream.cuh) as a programmatic dependent of the
//    seed kernel (Hopper): dx = dy for every chunk that is not blended, at memory speed, on the
//    SM room the seed blocks leave (queued first, the seed kernel — the long pole — gets its SMs
//    before the copy fills them; item 33 of bench/RESULTS.md). Bytes: 8*B*S*C.
// No two kernels write the same element. Fixed orders throughout: deterministic without atomics.
#include <algorithm>

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

constexpr int kSmemBytes = 48 * 1024;       // shared memory of a seed block
constexpr int kWideSmemBytes = 128 * 1024;  // ... of the wide instantiation (opt-in)
constexpr int kStagedParamsMax = 2048;      // parameter regions up to this are staged
constexpr int kFactorRowsAlign = 32;        // factor rows per tile: a multiple of a warp

// Largest parameter count of any blueprint for chunks up to CMAX (hidden width and rank up to
// hidden_bound<CMAX>: 32 for the row instantiations, as before the wide one existed).
template <int CMAX>
constexpr int max_param_count() {
  return 2 * hidden_bound<CMAX>() * CMAX + hidden_bound<CMAX>() + CMAX;
}
// Whether every blueprint of chunks up to CMAX has its parameters staged in shared memory: then
// the kernel reads them through a pointer the compiler knows is shared (LDS, vectorised), not
// through a generic one (the parameter reads of phase A were 892 scalar generic loads at CMAX 16).
template <int CMAX>
constexpr bool always_staged() {
  return max_param_count<CMAX>() <= kStagedParamsMax;
}
// Parameters a thread of a seed block owns in phase B.
template <int CMAX>
constexpr int params_per_thread() {
  return (max_param_count<CMAX>() + kSeedThreads - 1) / kSeedThreads;
}

struct SeedBackwardArgs {
  const void* x = nullptr;  // float, or bf16 (the seed kernel's element type)
  const void* dy = nullptr;
  void* dx = nullptr;  // null: no input gradient
  int64_t B = 0, H = 0;
  BlueprintShape sh;
  SeedStateView st;
  PoolView<float> pool;
  bool param_grads = false;
  uint32_t gemm_kinds = 0;  // seeds of these kinds: the GEMM path (morph/seed_path.hpp)
  bool vec = false;
  bool params_in_smem = false;
  int32_t staged = 0;     // floats of staged parameters (L.fused_region) when params_in_smem
  int32_t tile_rows = 0;  // rows per tile (factor rows in shared memory)
  int32_t fstride = 0;    // floats per factor row (odd: conflict-free row writes)
  float* grad_norm = nullptr;
  bool task = false;            // TRAINING under the task_gradient objective
  float* step_stats = nullptr;  // [S, kMorphStepStats]: task_gradient writes [s][1]
  bool zero_norms = true;       // grad_norm = 0 for the seeds (of any kind) that do not train
  // >= 0: only the seeds of this kind, computed as the built-in as_kind (morph_seed_backward_as);
  // -1: the seeds of the built-in kinds.
  int32_t only_kind = -1, as_kind = 0;
  // The forward ran in place (morph_backward_saved): a blended seed's input rows are read from
  // saved (slot-major, saved_rows rows of C a slot) and written back into x (then the rows the
  // layers below produced); dx may be dy.
  const void* saved = nullptr;
  int64_t saved_rows = 0;
};

__device__ __forceinline__ bool seed_trains(const SeedBackwardArgs& a, const SeedFlags& f) {
  return a.param_grads & stage_trains(f.stage) & (f.slot >= 0);
}
__device__ __forceinline__ bool seed_input_grad(const SeedBackwardArgs& a, const SeedFlags& f) {
  return (a.dx != nullptr) & blend_applies(f.stage, f.alpha);
}
// In place (morph_backward_saved): the seed's x is in the saved rows, and is put back.
__device__ __forceinline__ bool seed_from_saved(const SeedBackwardArgs& a, const SeedFlags& f) {
  return (a.saved != nullptr) & blend_applies(f.stage, f.alpha);
}

// One thread's row of a seed: its x and dy chunks (loaded before the compute).
template <int CMAX>
struct SeedRow {
  float x[CMAX], dy[CMAX];
};

// Row r (offset off in the activations) of the seed in `slot`; x from the saved rows when
// from_saved.
template <int CMAX, class E>
__device__ __forceinline__ void load_row(const SeedBackwardArgs& a, int64_t off, int64_t r,
                                         int32_t slot, bool from_saved, bool need_dy,
                                         SeedRow<CMAX>& row) {
  const E* x = from_saved ? static_cast<const E*>(a.saved) + (slot * a.saved_rows + r) * a.sh.chunk
                          : static_cast<const E*>(a.x) + off;
  load_chunk<CMAX>(x, a.sh.chunk, a.vec, row.x);
  if (need_dy) load_chunk<CMAX>(static_cast<const E*>(a.dy) + off, a.sh.chunk, a.vec, row.dy);
}

// Phase A for one row (offset off): g, the blended input gradient (stored as E), the gradient
// factors F.
template <int CMAX, class E>
__device__ __forceinline__ void backward_row(const SeedBackwardArgs& a, int64_t off,
                                             const SeedRow<CMAX>& row, int32_t kind,
                                             const float* params, float alpha, bool blended,
                                             bool isolated, float* F, float& change) {
  const int32_t C = a.sh.chunk;
  float g[CMAX], jt[CMAX];
  if (isolated && a.task) {
    blueprint_delta<CMAX, float>(kind, a.sh, params, row.x, g);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) {
        change += g[c] * row.dy[c];
        g[c] = row.dy[c];
      }
  } else if (isolated) {
    const float iso_scale = 2.0f / (static_cast<float>(a.B) * static_cast<float>(C));
    blueprint_delta<CMAX, float>(kind, a.sh, params, row.x, g);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) g[c] = iso_scale * g[c];
  } else {
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) g[c] = alpha * row.dy[c];
  }
  if (blended) {
    // (a separate call for each case keeps jt in registers)
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c) jt[c] = 0.0f;
    blueprint_backward<CMAX, float>(kind, a.sh, params, row.x, g, jt, F);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) jt[c] = row.dy[c] + jt[c];
    store_chunk<CMAX>(static_cast<E*>(a.dx) + off, C, a.vec, jt);
  } else {
    blueprint_backward<CMAX, float>(kind, a.sh, params, row.x, g, nullptr, F);
  }
}

// Grid: seed_kernel_blocks; dynamic shared memory: the parameters (when staged),
// tile_rows factor rows of fstride floats.
// E: the activations' element type (float or bf16; the blueprint's gradients in float32).
template <int CMAX, bool EXACT, class E>
// Chunks up to 16: at most 128 registers, so that two blocks of the copy fit on an SM beside a
// block (wider chunks need more registers than that without spilling).
__global__ void __launch_bounds__(kSeedThreads, CMAX <= 16 ? 2 : 1)
    morph_seed_backward_kernel(const SeedBackwardArgs args) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // the copy queued after this kernel runs beside it
#endif
  SeedBackwardArgs a = args;
  a.sh = exact_chunk<CMAX, EXACT>(args.sh);
  constexpr int kOwn = params_per_thread<CMAX>();
  using Reduce = cub::BlockReduce<float, kSeedThreads>;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  extern __shared__ float seed_smem[];
  float* sparams = seed_smem;
  float* factors = sparams + (a.params_in_smem ? a.staged : 0);
  const int tid = static_cast<int>(threadIdx.x);
  const int32_t S = a.st.seeds;
  if (a.param_grads && a.zero_norms) {  // seeds that do not train: grad_norm 0 (others below)
    for (int64_t s = static_cast<int64_t>(blockIdx.x) * kSeedThreads + tid; s < S;
         s += static_cast<int64_t>(gridDim.x) * kSeedThreads)
      if (!seed_trains(a, seed_flags(a.st, static_cast<int32_t>(s), nullptr, a.gemm_kinds)))
        a.grad_norm[s] = 0.0f;
  }
  auto has_work = [&](int32_t s) {
    const SeedFlags f = seed_flags(a.st, s, nullptr, a.gemm_kinds);
    const bool mine = a.only_kind < 0 ? f.kind < kBlueprintKindCount  // IR kinds: their modules
                                      : f.kind == a.only_kind;
    return (seed_input_grad(a, f) | seed_trains(a, f) | seed_from_saved(a, f)) & mine;
  };
  auto body = [&](int32_t s, int32_t slot) {
    const SeedFlags f = seed_flags(a.st, s, nullptr, a.gemm_kinds);
    const bool blended = seed_input_grad(a, f), trains = seed_trains(a, f);
    const bool from_saved = seed_from_saved(a, f);
    const bool isolated = trains && stage_trains_isolated(f.stage);
    const bool need_dy = !isolated || a.task;
    const int32_t kind = a.only_kind < 0 ? f.kind : a.as_kind;
    const int32_t P = blueprint_param_count(kind, a.sh);
    const int64_t cs = static_cast<int64_t>(s) * a.sh.chunk;
    float* F = trains ? factors + static_cast<int64_t>(tid) * a.fstride : nullptr;
    // The first tile's rows are in flight while the parameters are staged.
    SeedRow<CMAX> row;
    if (tid < std::min<int64_t>(a.tile_rows, a.B))
      load_row<CMAX, E>(a, tid * a.H + cs, tid, slot, from_saved, need_dy, row);
    const float* params = a.pool.at(slot, PoolRegion::params);
    if (always_staged<CMAX>() || a.params_in_smem) {
      stage_params(params, P, sparams, tid, kSeedThreads);
      params = sparams;
    }
    __syncthreads();
    float acc[kOwn];
    KASMINA_MORPH_UNROLL
    for (int q = 0; q < kOwn; ++q) acc[q] = 0.0f;
    float change = 0.0f;  // task_gradient: this thread's rows' <delta, dy>
    for (int64_t r0 = 0; r0 < a.B; r0 += a.tile_rows) {
      const int64_t rows = std::min<int64_t>(a.tile_rows, a.B - r0);
      if (tid < rows) {
        const int64_t off = (r0 + tid) * a.H + cs;
        if (r0 > 0) load_row<CMAX, E>(a, off, r0 + tid, slot, from_saved, need_dy, row);
        if (blended | trains)
          backward_row<CMAX, E>(a, off, row, kind, params, f.alpha, blended, isolated, F, change);
        // x as the layers below produced it (after dx, which may be dy, is written)
        if (from_saved)
          store_chunk<CMAX>(static_cast<E*>(const_cast<void*>(a.x)) + off, a.sh.chunk, a.vec,
                            row.x);
      }
      if (!trains) continue;  // block-uniform
      __syncthreads();
      KASMINA_MORPH_UNROLL
      for (int q = 0; q < kOwn; ++q) {
        const int32_t i = tid + q * kSeedThreads;
        if (i < P) {
          const GradTerm t = blueprint_grad_term(kind, a.sh, i);
          const float* fa = factors + t.a;
          const float* fb = factors + t.b;
          const int64_t fs = a.fstride;
          float e = 0.0f, o = 0.0f;  // even and odd rows
          int64_t k = 0;
#pragma unroll 4
          for (; k + 1 < rows; k += 2) {
            e += fa[k * fs] * fb[k * fs];
            o += fa[(k + 1) * fs] * fb[(k + 1) * fs];
          }
          if (k < rows) e += fa[k * fs] * fb[k * fs];
          acc[q] += e + o;
        }
      }
      __syncthreads();  // the factor rows are rewritten by the next tile
    }
    if (trains) {
      float* grad = a.pool.at(slot, PoolRegion::grad);
      float sq = 0.0f;
      KASMINA_MORPH_UNROLL
      for (int q = 0; q < kOwn; ++q) {
        const int32_t i = tid + q * kSeedThreads;
        if (i < P) {
          grad[i] = acc[q];
          sq += acc[q] * acc[q];
        }
      }
      for (int32_t i = P + tid; i < a.pool.region; i += kSeedThreads) grad[i] = 0.0f;
      const float total = Reduce(reduce_tmp).Sum(sq);
      if (tid == 0) a.grad_norm[s] = sqrtf(total);
      if (isolated && a.task) {  // block-uniform
        __syncthreads();         // the reduction storage is reused
        const float total_change = Reduce(reduce_tmp).Sum(change);
        if (tid == 0) a.step_stats[static_cast<int64_t>(s) * kMorphStepStats + 1] = total_change;
      }
    }
    __syncthreads();  // the parameters and the reduction storage are reused by the next seed
  };
  for_each_slot_seed(a.pool.owner, a.pool.slots, has_work, body);
  complete_after_predecessor();  // launched as a programmatic dependent (morph_seed_backward_as)
}

SeedBackwardArgs seed_backward_args(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy,
                                    Tensor* dx, bool param_grads, int64_t B) {
  return SeedBackwardArgs{
      .x = x.raw(),
      .dy = dy.raw(),
      .dx = dx ? dx->raw() : nullptr,
      .B = B,
      .H = morph_detail::morph_width(L),
      .sh = L.shape,
      .st = morph_detail::state_view(L),
      .pool = morph_detail::pool_view<float>(L),
      .param_grads = param_grads,
      .gemm_kinds = L.gemm_kinds,
      // 16-byte accesses: 4 floats or 8 bf16.
      .vec = L.shape.chunk % (x.dtype() == DType::bf16 ? 8 : 4) == 0 && aligned16(x.raw()) &&
             aligned16(dy.raw()) && (!dx || aligned16(dx->raw())),
      .grad_norm = L.grad_norm.data<float>(),
      .task = L.training_objective ==
              static_cast<int32_t>(kasmina::morph::TrainingObjective::task_gradient),
      .step_stats = L.step_stats.data<float>()};
}

// The staged parameters (`staged` floats, when few enough) and the factor tile (rows of
// `factors` floats) in b for the instantiation CMAX; the dynamic shared memory they take. Where
// every blueprint's parameters fit (always_staged), no more than the largest of them is staged
// (a test rig's pool region may be wider).
template <int CMAX>
size_t plan_factor_tile(SeedBackwardArgs& b, int32_t staged, int32_t factors) {
  b.staged = always_staged<CMAX>() ? std::min(staged, max_param_count<CMAX>()) : staged;
  b.params_in_smem = b.staged <= kStagedParamsMax;
  b.fstride = factors | 1;
  const size_t fixed = sizeof(float) * (b.params_in_smem ? b.staged : 0);
  const int64_t budget = wide_instantiation(b.sh) ? kWideSmemBytes : kSmemBytes;
  const int64_t fit = (budget - static_cast<int64_t>(fixed)) / (4 * b.fstride);
  b.tile_rows = static_cast<int32_t>(
      std::min<int64_t>(kSeedThreads, fit / kFactorRowsAlign * kFactorRowsAlign));
  KASMINA_CHECK(b.tile_rows >= kFactorRowsAlign, "morph_backward: factor tile does not fit");
  return fixed + sizeof(float) * static_cast<size_t>(b.tile_rows) * b.fstride;
}

}  // namespace

void morph_seed_backward_as(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy,
                            Tensor* dx, bool param_grads, int32_t kind, int32_t as_kind,
                            bool dependent, bool zero_norms) {
  const int64_t B = x.dim(0);
  if (B == 0 || (!dx && !param_grads)) return;
  SeedBackwardArgs b = seed_backward_args(L, x, dy, dx, param_grads, B);
  b.zero_norms = zero_norms;
  b.only_kind = kind;
  b.as_kind = as_kind;
  const int32_t staged = blueprint_param_count(as_kind, L.shape);
  const int32_t factors = std::max(1 + 2 * L.shape.chunk, blueprint_factor_count(as_kind, L.shape));
  DeviceContext& ctx = context(L.device());
  const unsigned blocks = seed_kernel_blocks(L.seeds, L.pool_slots, ctx.sms);
  dispatch_chunk(L.shape, [&]<int CMAX, bool EXACT>() {
    const size_t smem = plan_factor_tile<CMAX>(b, staged, factors);
    const auto kernel = morph_seed_backward_kernel<CMAX, EXACT, float>;
    opt_in_smem(kernel, smem);
    if (dependent)
      launch_programmatic(kernel, dim3(blocks), dim3(kSeedThreads), smem, ctx.stream, b);
    else
      kernel<<<blocks, kSeedThreads, smem, ctx.stream>>>(b);
  });
  KASMINA_LAUNCH_CHECK("morph_seed_backward_kernel");
}

namespace {

// morph_backward, or with `saved` morph_backward_saved (the forward ran in place).
void backward_launch(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                     bool param_grads, bool saved) {
  const char* op = saved ? "morph_backward_saved" : "morph_backward";
  const int64_t B = morph_detail::check_activations(L, x, op, "x", true);
  if (saved) morph_detail::check_saved(L, x, B, op);
  const bool half = x.dtype() == DType::bf16;
  KASMINA_CHECK(!half || L.modules.empty(),
                "morph_backward: bf16 activations with IR blueprints (their generated kernels read "
                "float32)");
  KASMINA_CHECK(dy.shape() == x.shape() && dy.dtype() == x.dtype() && dy.device() == x.device(),
                "morph_backward: dy shape/dtype/device differs from x");
  if (dx) {
    KASMINA_CHECK(
        dx->shape() == x.shape() && dx->dtype() == x.dtype() && dx->device() == x.device(),
        "morph_backward: dx shape/dtype/device differs from x");
    // The copy and the seed kernel write dx while they (and each other) read x and dy; after
    // an in-place forward, the seed kernel alone rewrites dy's blended chunks when dx is dy.
    KASMINA_CHECK(dx->raw() != x.raw() && (saved || dx->raw() != dy.raw()),
                  std::string(op) + ": dx may not alias x" + (saved ? "" : " or dy"));
  }
  const bool alias = dx != nullptr && dx->raw() == dy.raw();
  if (B == 0 || (!saved && !dx && !param_grads)) return;
  const int32_t C = L.shape.chunk;
  DeviceContext& ctx = context(L.device());
  const SeedStateView sv = morph_detail::state_view(L);

  int32_t factors = 1 + 2 * C;
  for (int32_t k = 0; k < kBlueprintKindCount; ++k)
    factors = std::max(factors, blueprint_factor_count(k, L.shape));
  SeedBackwardArgs b = seed_backward_args(L, x, dy, dx, param_grads, B);
  if (saved) {
    b.saved = L.saved.raw();
    b.saved_rows = L.saved_rows;
  }
  const unsigned blocks = seed_kernel_blocks(L.seeds, L.pool_slots, ctx.sms);

  // The seed kernel first, as an ordinary launch (it reads x and dy, which the kernels before it
  // write); the copy is its programmatic dependent, so the seed blocks — the long pole — are
  // placed first and the copy fills the rest of the SMs (its first block waits for the seed
  // kernel's grid at its end, so later work finds both done).
  const bool fused = L.fused_seeds || L.modules.empty();
  if (fused) {
    dispatch_chunk(L.shape, [&]<int CMAX, bool EXACT>() {
      const size_t smem = plan_factor_tile<CMAX>(b, morph_detail::fused_region(L), factors);
      const auto kernel = half ? morph_seed_backward_kernel<CMAX, EXACT, bf16>
                               : morph_seed_backward_kernel<CMAX, EXACT, float>;
      opt_in_smem(kernel, smem);
      kernel<<<blocks, kSeedThreads, smem, ctx.stream>>>(b);
    });
    KASMINA_LAUNCH_CHECK("morph_seed_backward_kernel");
  }
  // The seeds of blueprints outside the kind table (skipped above): their modules' seed kernels,
  // each beside the one before it (the first an ordinary launch when no fused one ran, and then
  // also the one that zeroes the gradient norms of the seeds that do not train).
  for (size_t i = 0; i < L.modules.size(); ++i)
    L.modules[i]->backward(L, x, dy, dx, param_grads,
                           {.dependent = fused || i > 0, .zero_norms = !fused && i == 0});
  if (dx && !alias) {
    MorphStreamArgs a = stream_copy_args(sv, C, b.dy, b.dx, B, b.H);
    a.dependent = true;
    a.gemm_kinds = L.gemm_kinds;
    const bool copy_vec = C % (half ? 8 : 4) == 0 && aligned16(dy.raw()) && aligned16(dx->raw());
    KASMINA_CHECK(C <= kRowChunk || copy_vec,
                  "morph_backward: chunks wider than 64 need 16-byte aligned dy and dx" +
                      std::string(half ? " and, in bf16, a multiple of 8 wide" : ""));
    if (half)
      launch_morph_stream_bf16(a, copy_vec, ctx.sms, ctx.stream, "morph_input_grad_stream_kernel");
    else
      launch_morph_stream(a, copy_vec, ctx.sms, ctx.stream, "morph_input_grad_stream_kernel");
  }
}

}  // namespace

void morph_backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                    bool param_grads) {
  backward_launch(L, x, dy, dx, param_grads, false);
}

void morph_backward_saved(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                          bool param_grads) {
  backward_launch(L, x, dy, dx, param_grads, true);
}

}  // namespace kasmina::ops::cuda
