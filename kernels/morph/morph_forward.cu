// Fused forward of a morphogenetic layer, two or three launches:
//  1. stream kernel over all seeds and rows (morph_stream.cuh): out = x, and per-seed input
//     statistics (sum, sum of squares, dead count, max |x|) reduced per block into partials. No
//     blueprint code and coalesced rows, so it is a lean copy at memory speed.
//     Bytes: read x and write out once (8*B*S*C) + 16*S*ceil(B/32) of partials.
//  2. seed kernel over (seed, group of kSeedRows rows), one row per thread: blended seeds
//     (GRAFTING..FOSSILIZED, alpha > 0, not masked) overwrite their chunk with
//     x + alpha * delta(x); TRAINING seeds sum their isolated loss |delta|^2 per row tile (one
//     warp = one tile, fixed shuffle order) into partials[tile][s][4]. The blueprint's
//     parameters are staged in shared memory once per block. Blocks of seeds with nothing to do
//     exit at once. Bytes: x and out of active seeds' chunks.
//  3. with statistics on, a fold kernel (one warp per seed) adds the row-tile partials in f64
//     in a fixed order into the step measurements and the telemetry.
// Fixed reduction orders throughout: deterministic, no float atomics.
#include "kernels/morph/morph_kernel_common.cuh"
#include "kernels/morph/morph_stream.cuh"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;
using namespace kasmina::ops::cuda::morph_kernels;

constexpr int kSeedRows = 128;  // rows of a seed-kernel block, one per thread (4 row tiles)
constexpr int kFoldSeeds = 4;   // seeds per fold block, one warp each
static_assert(kSeedRows % kMorphRowsPerTile == 0 && kMorphRowsPerTile == 32,
              "a warp of the seed kernel is one row tile");

template <int CMAX>
__global__ void __launch_bounds__(kSeedRows)
    morph_forward_seed_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t B,
                              int64_t H, BlueprintShape sh, SeedStateView st, PoolView<float> pool,
                              const uint8_t* __restrict__ mask, bool use_mask, bool collect,
                              bool vec, float* __restrict__ partials) {
  extern __shared__ float sparams[];
  const int32_t s = blockIdx.x;
  const int32_t C = sh.chunk;
  const int32_t stage = st.stage[s];
  const float alpha = st.alpha[s];
  const bool blended = blend_applies(stage, alpha) && !(use_mask && mask[s] != 0);
  const bool isolated = collect && stage_trains_isolated(stage);
  if (!blended && !isolated) return;
  const int32_t kind = st.blueprint[s];
  const bool has_params = st.slot[s] >= 0;
  if (has_params) {
    stage_params(pool.at(st.slot[s], PoolRegion::params), blueprint_param_count(kind, sh), sparams,
                 threadIdx.x, kSeedRows);
  }
  __syncthreads();
  const float* params = has_params ? sparams : nullptr;
  const int64_t r = static_cast<int64_t>(blockIdx.y) * kSeedRows + threadIdx.x;
  float iso = 0.0f;
  if (r < B) {
    const int64_t off = r * H + static_cast<int64_t>(s) * C;
    float xr[CMAX], delta[CMAX];
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
  if (!isolated) return;
  // One warp = one row tile: a fixed shuffle tree, lane 0 writes the tile's isolated loss.
  for (int o = 16; o > 0; o >>= 1) iso += __shfl_down_sync(0xffffffffu, iso, o);
  const int64_t tile = (static_cast<int64_t>(blockIdx.y) * kSeedRows + threadIdx.x) / 32;
  if ((threadIdx.x & 31) == 0 && tile * kMorphRowsPerTile < B)
    partials[(tile * st.seeds + s) * kMorphPartialStats + 4] = iso;
}

// Per-seed statistics folded in f64.
struct SeedStats {
  double sum, sumsq, dead, maxabs, iso;
};

// One warp per seed: lane l adds row tiles l, l + 32, ... in order, then a fixed xor-shuffle
// tree combines the lanes; lane 0 writes the step measurements and accumulates the telemetry.
__global__ void __launch_bounds__(kFoldSeeds * 32)
    morph_forward_fold_kernel(int64_t B, int32_t C, SeedStateView st,
                              const float* __restrict__ partials, int64_t tiles,
                              float* __restrict__ step_stats, double* __restrict__ telemetry) {
  const int32_t s = blockIdx.x * kFoldSeeds + threadIdx.x / 32;
  if (s >= st.seeds) return;
  const int lane = threadIdx.x & 31;
  const bool isolated = stage_trains_isolated(st.stage[s]);
  SeedStats m{0.0, 0.0, 0.0, 0.0, 0.0};
  for (int64_t t = lane; t < tiles; t += 32) {
    const float* p = partials + (t * st.seeds + s) * kMorphPartialStats;
    m.sum += p[0];
    m.sumsq += p[1];
    m.dead += p[2];
    m.maxabs = fmax(m.maxabs, static_cast<double>(p[3]));
    if (isolated) m.iso += p[4];
  }
  for (int o = 16; o > 0; o >>= 1) {
    m.sum += __shfl_xor_sync(0xffffffffu, m.sum, o);
    m.sumsq += __shfl_xor_sync(0xffffffffu, m.sumsq, o);
    m.dead += __shfl_xor_sync(0xffffffffu, m.dead, o);
    m.maxabs = fmax(m.maxabs, __shfl_xor_sync(0xffffffffu, m.maxabs, o));
    m.iso += __shfl_xor_sync(0xffffffffu, m.iso, o);
  }
  if (lane != 0) return;
  const double n = static_cast<double>(B) * C;
  step_stats[s * kMorphStepStats + 0] = static_cast<float>(m.sumsq / n);
  step_stats[s * kMorphStepStats + 1] = static_cast<float>(m.iso / n);
  double* tel = telemetry + static_cast<int64_t>(s) * kMorphTelemetryStats;
  tel[0] += n;
  tel[1] += m.sum;
  tel[2] += m.sumsq;
  tel[3] += m.dead;
  tel[4] = fmax(tel[4], m.maxabs);
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
  const dim3 seed_grid(static_cast<unsigned>(L.seeds),
                       static_cast<unsigned>((B + kSeedRows - 1) / kSeedRows));
  const size_t seed_smem = sizeof(float) * static_cast<size_t>(pv.region);
  dispatch_chunk(C, [&]<int CMAX>() {
    morph_forward_seed_kernel<CMAX><<<seed_grid, kSeedRows, seed_smem, st>>>(
        x.data<float>(), out.data<float>(), B, H, L.shape, sv, pv, L.eval_zero.data<uint8_t>(),
        opt.use_eval_mask, opt.collect_stats, vec, L.partials.data<float>());
  });
  KASMINA_LAUNCH_CHECK("morph_forward_seed_kernel");
  if (!opt.collect_stats) return;
  morph_forward_fold_kernel<<<static_cast<unsigned>((L.seeds + kFoldSeeds - 1) / kFoldSeeds),
                              kFoldSeeds * 32, 0, st>>>(B, C, sv, L.partials.data<float>(), tiles,
                                                        L.step_stats.data<float>(),
                                                        L.telemetry.data<double>());
  KASMINA_LAUNCH_CHECK("morph_forward_fold_kernel");
}

}  // namespace kasmina::ops::cuda
