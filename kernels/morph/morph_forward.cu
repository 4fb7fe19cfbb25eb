// Fused forward of a morphogenetic layer: one launch over all seeds and rows (identity for
// non-blended seeds, blueprint + blend for blended ones, isolated loss for TRAINING seeds) with
// per-seed statistics reduced per block into partials; a second small launch folds the
// partials of all row tiles in a fixed order (deterministic, no float atomics) into the
// step measurements and the f64 telemetry accumulators.
//
// Launch shapes: forward grid (ceil(S/32), ceil(B/32)), block (32 seeds, 8 row lanes); a warp
// is one row of 32 consecutive chunks (coalesced, 16-byte loads when C % 4 == 0). Bytes: read x
// and write out once (8*B*S*C) + blueprint parameters of blended seeds (L1/L2-resident) +
// 20*S*ceil(B/32) of partials. Finalize: grid ceil(S/256), reads the partials once.
#include "kernels/morph/morph_kernel_common.cuh"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;
using namespace kasmina::ops::cuda::morph_kernels;

constexpr int kSeedsPerBlock = 32;
constexpr int kRowLanes = 8;
static_assert(kMorphRowsPerTile % kRowLanes == 0, "row tile must be a multiple of the row lanes");

template <int CMAX>
__global__ void __launch_bounds__(kSeedsPerBlock* kRowLanes)
    morph_forward_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t B, int64_t H,
                         BlueprintShape sh, SeedStateView st, PoolView<float> pool,
                         const uint8_t* __restrict__ mask, bool use_mask, bool collect,
                         float dead_eps, bool vec, float* __restrict__ partials) {
  __shared__ float red[kMorphPartialStats][kRowLanes][kSeedsPerBlock];
  const int32_t S = st.seeds;
  const int32_t C = sh.chunk;
  const int32_t s = blockIdx.x * kSeedsPerBlock + threadIdx.x;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kMorphRowsPerTile;
  const int64_t row_end = row0 + kMorphRowsPerTile < B ? row0 + kMorphRowsPerTile : B;
  float sum = 0.0f, sumsq = 0.0f, dead = 0.0f, maxabs = 0.0f, iso = 0.0f;
  if (s < S) {
    const int32_t stage = st.stage[s];
    const float alpha = st.alpha[s];
    const bool blended = stage_is_blended(stage) && alpha > 0.0f && !(use_mask && mask[s] != 0);
    const bool isolated = collect && stage_trains_isolated(stage);
    const int32_t kind = st.blueprint[s];
    const float* params = st.slot[s] >= 0 ? pool.at(st.slot[s], PoolRegion::params) : nullptr;
    float xr[CMAX], delta[CMAX];
    for (int64_t r = row0 + threadIdx.y; r < row_end; r += kRowLanes) {
      const int64_t off = r * H + static_cast<int64_t>(s) * C;
      load_chunk<CMAX>(x + off, C, vec, xr);
      if (collect) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c) {
          if (c < C) {
            const float v = xr[c];
            sum += v;
            sumsq += v * v;
            dead += fabsf(v) < dead_eps ? 1.0f : 0.0f;
            maxabs = fmaxf(maxabs, fabsf(v));
          }
        }
      }
      if (blended || isolated) blueprint_delta<CMAX, float>(kind, sh, params, xr, delta);
      if (isolated) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) iso += delta[c] * delta[c];
      }
      if (blended) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) xr[c] = xr[c] + alpha * delta[c];
      }
      store_chunk<CMAX>(out + off, C, vec, xr);
    }
  }
  if (!collect) return;
  red[0][threadIdx.y][threadIdx.x] = sum;
  red[1][threadIdx.y][threadIdx.x] = sumsq;
  red[2][threadIdx.y][threadIdx.x] = dead;
  red[3][threadIdx.y][threadIdx.x] = maxabs;
  red[4][threadIdx.y][threadIdx.x] = iso;
  __syncthreads();
  if (threadIdx.y < kMorphPartialStats && s < S) {
    const int k = threadIdx.y;
    float acc = red[k][0][threadIdx.x];
    for (int l = 1; l < kRowLanes; ++l) {
      const float v = red[k][l][threadIdx.x];
      acc = k == 3 ? fmaxf(acc, v) : acc + v;
    }
    partials[(static_cast<int64_t>(blockIdx.y) * S + s) * kMorphPartialStats + k] = acc;
  }
}

__global__ void morph_forward_finalize_kernel(const float* __restrict__ partials, int64_t tiles,
                                              int32_t S, double n, float* __restrict__ step_stats,
                                              double* __restrict__ telemetry) {
  const int32_t s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= S) return;
  double sum = 0.0, sumsq = 0.0, dead = 0.0, maxabs = 0.0, iso = 0.0;
  for (int64_t t = 0; t < tiles; ++t) {
    const float* p = partials + (t * S + s) * kMorphPartialStats;
    sum += p[0];
    sumsq += p[1];
    dead += p[2];
    maxabs = fmax(maxabs, static_cast<double>(p[3]));
    iso += p[4];
  }
  step_stats[s * kMorphStepStats + 0] = static_cast<float>(sumsq / n);
  step_stats[s * kMorphStepStats + 1] = static_cast<float>(iso / n);
  double* tel = telemetry + static_cast<int64_t>(s) * kMorphTelemetryStats;
  tel[0] += n;
  tel[1] += sum;
  tel[2] += sumsq;
  tel[3] += dead;
  tel[4] = fmax(tel[4], maxabs);
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
  const dim3 grid(static_cast<unsigned>((L.seeds + kSeedsPerBlock - 1) / kSeedsPerBlock),
                  static_cast<unsigned>(tiles));
  const dim3 block(kSeedsPerBlock, kRowLanes);
  const SeedStateView sv = morph_detail::state_view(L);
  const PoolView<float> pv = morph_detail::pool_view<float>(L);
  dispatch_chunk(C, [&]<int CMAX>() {
    morph_forward_kernel<CMAX><<<grid, block, 0, st>>>(
        x.data<float>(), out.data<float>(), B, H, L.shape, sv, pv, L.eval_zero.data<uint8_t>(),
        opt.use_eval_mask, opt.collect_stats, opt.dead_eps, vec, L.partials.data<float>());
  });
  KASMINA_LAUNCH_CHECK("morph_forward_kernel");
  if (!opt.collect_stats) return;
  const int threads = 256;
  morph_forward_finalize_kernel<<<(L.seeds + threads - 1) / threads, threads, 0, st>>>(
      L.partials.data<float>(), tiles, L.seeds, static_cast<double>(B) * C,
      L.step_stats.data<float>(), L.telemetry.data<double>());
  KASMINA_LAUNCH_CHECK("morph_forward_finalize_kernel");
}

}  // namespace kasmina::ops::cuda
