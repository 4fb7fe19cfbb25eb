// Fused forward of a morphogenetic layer, two launches:
//  1. stream kernel over all seeds and rows (morph_stream.cuh): out = x, and per-seed input
//     statistics (sum, sum of squares, dead count, max |x|) reduced per block into partials. No
//     blueprint code and coalesced rows, so it is a lean copy at memory speed.
//     Bytes: read x and write out once (8*B*S*C) + 16*S*ceil(B/32) of partials.
//  2. seed kernel, one block per seed: blended seeds (GRAFTING..FOSSILIZED, alpha > 0, not
//     masked) overwrite their chunk with x + alpha * delta(x); TRAINING seeds add up their
//     isolated loss |delta|^2; with statistics on, the block folds the row-tile partials and the
//     isolated loss in one fixed-order f64 block reduction into the step measurements and the
//     telemetry.
//     Seeds with nothing to do exit at once. Bytes: x and out of active seeds' chunks.
// Fixed reduction orders throughout: deterministic, no float atomics.
#include <cub/block/block_reduce.cuh>

#include "kernels/morph/morph_kernel_common.cuh"
#include "kernels/morph/morph_stream.cuh"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;
using namespace kasmina::ops::cuda::morph_kernels;

constexpr int kSeedThreads = 128;

// Per-seed statistics folded by the seed kernel (f64).
struct SeedStats {
  double sum, sumsq, dead, maxabs, iso;
};

struct CombineStats {
  __device__ SeedStats operator()(const SeedStats& a, const SeedStats& b) const {
    return {a.sum + b.sum, a.sumsq + b.sumsq, a.dead + b.dead, fmax(a.maxabs, b.maxabs),
            a.iso + b.iso};
  }
};

template <int CMAX>
__global__ void __launch_bounds__(kSeedThreads)
    morph_forward_seed_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t B,
                              int64_t H, BlueprintShape sh, SeedStateView st, PoolView<float> pool,
                              const uint8_t* __restrict__ mask, bool use_mask, bool collect,
                              bool vec, const float* __restrict__ partials, int64_t tiles,
                              float* __restrict__ step_stats, double* __restrict__ telemetry) {
  using Reduce = cub::BlockReduce<SeedStats, kSeedThreads>;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  const int32_t s = blockIdx.x;
  const int32_t C = sh.chunk;
  const int32_t stage = st.stage[s];
  const float alpha = st.alpha[s];
  const bool blended = stage_is_blended(stage) && alpha > 0.0f && !(use_mask && mask[s] != 0);
  const bool isolated = collect && stage_trains_isolated(stage);
  if (!blended && !collect) return;
  float iso = 0.0f;
  if (blended || isolated) {
    const int32_t kind = st.blueprint[s];
    const float* params = st.slot[s] >= 0 ? pool.at(st.slot[s], PoolRegion::params) : nullptr;
    float xr[CMAX], delta[CMAX];
    for (int64_t r = threadIdx.x; r < B; r += kSeedThreads) {
      const int64_t off = r * H + static_cast<int64_t>(s) * C;
      load_chunk<CMAX>(x + off, C, vec, xr);
      blueprint_delta<CMAX, float>(kind, sh, params, xr, delta);
      if (isolated) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) iso += delta[c] * delta[c];
      }
      if (blended) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) xr[c] = xr[c] + alpha * delta[c];
        store_chunk<CMAX>(out + off, C, vec, xr);
      }
    }
  }
  if (!collect) return;
  // Fold: thread t takes row tiles t, t + T, ... (in order), then one fixed-order block
  // reduction of all five statistics.
  SeedStats mine{0.0, 0.0, 0.0, 0.0, static_cast<double>(iso)};
  for (int64_t t = threadIdx.x; t < tiles; t += kSeedThreads) {
    const float* p = partials + (t * st.seeds + s) * kMorphPartialStats;
    mine.sum += p[0];
    mine.sumsq += p[1];
    mine.dead += p[2];
    mine.maxabs = fmax(mine.maxabs, static_cast<double>(p[3]));
  }
  const SeedStats total = Reduce(reduce_tmp).Reduce(mine, CombineStats{});
  if (threadIdx.x != 0) return;
  const double n = static_cast<double>(B) * C;
  step_stats[s * kMorphStepStats + 0] = static_cast<float>(total.sumsq / n);
  step_stats[s * kMorphStepStats + 1] = static_cast<float>(total.iso / n);
  double* tel = telemetry + static_cast<int64_t>(s) * kMorphTelemetryStats;
  tel[0] += n;
  tel[1] += total.sum;
  tel[2] += total.sumsq;
  tel[3] += total.dead;
  tel[4] = fmax(tel[4], total.maxabs);
}

}  // namespace

void morph_forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                   const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_forward", "x");
  x.check_dtype(DType::f32);
  KASMINA_CHECK(out.shape() == x.shape() && out.dtype() == x.dtype() && out.device() == x.device(),
                "morph_forward: out shape/dtype/device differs from x");
  KASMINA_CHECK(out.raw() != x.raw(), "morph_forward: out may not alias x");
  if (B == 0) return;
  const int64_t tiles = (B + kMorphRowsPerTile - 1) / kMorphRowsPerTile;
  KASMINA_CHECK(!opt.collect_stats || L.partials.dim(0) >= tiles,
                "morph_forward: batch larger than the layer was prepared for");
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const bool vec = C % 4 == 0 && aligned16(x.raw()) && aligned16(out.raw());
  cudaStream_t st = stream(L.device());
  const SeedStateView sv = morph_detail::state_view(L);
  const PoolView<float> pv = morph_detail::pool_view<float>(L);
  launch_morph_stream(x.data<float>(), out.data<float>(), B, H, L.seeds, C, opt.collect_stats,
                      opt.dead_eps, L.partials.data<float>(), st, "morph_forward_stream_kernel");
  dispatch_chunk(C, [&]<int CMAX>() {
    morph_forward_seed_kernel<CMAX><<<L.seeds, kSeedThreads, 0, st>>>(
        x.data<float>(), out.data<float>(), B, H, L.shape, sv, pv, L.eval_zero.data<uint8_t>(),
        opt.use_eval_mask, opt.collect_stats, vec, L.partials.data<float>(), tiles,
        L.step_stats.data<float>(), L.telemetry.data<double>());
  });
  KASMINA_LAUNCH_CHECK("morph_forward_seed_kernel");
}

}  // namespace kasmina::ops::cuda
