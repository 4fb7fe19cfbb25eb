// Fused backward of a morphogenetic layer, two launches:
//  1. input gradient over all seeds and rows (grid/block as the forward): dx = dy for identity
//     seeds, dx = dy + alpha * J^T dy for blended seeds. Bytes: read x, dy; write dx (12*B*S*C).
//  2. blueprint gradients, one block per seed (seeds whose stage does not train exit at once):
//     rows are processed in tiles; each row's parameter-gradient contribution goes to shared
//     memory and every parameter is summed by one thread in row order, so the result is
//     deterministic without atomics. Writes the slot's gradient region and grad_norm[s].
//     Bytes: read x and dy of training seeds' chunks, write their gradients.
#include <cub/block/block_reduce.cuh>

#include "kernels/morph/morph_kernel_common.cuh"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;
using namespace kasmina::ops::cuda::morph_kernels;

constexpr int kSeedsPerBlock = 32;
constexpr int kRowLanes = 8;
constexpr int kRowsPerBlock = 32;
constexpr int kGradThreads = 128;
constexpr int kGradSmemFloats = 11264;  // 44 KiB of per-row gradient contributions
constexpr int kGradMaxRowsPerTile = 64;

template <int CMAX>
__global__ void __launch_bounds__(kSeedsPerBlock* kRowLanes)
    morph_backward_input_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                float* __restrict__ dx, int64_t B, int64_t H, BlueprintShape sh,
                                SeedStateView st, PoolView<float> pool, bool vec) {
  const int32_t s = blockIdx.x * kSeedsPerBlock + threadIdx.x;
  if (s >= st.seeds) return;
  const int32_t C = sh.chunk;
  const int32_t stage = st.stage[s];
  const float alpha = st.alpha[s];
  const bool blended = stage_is_blended(stage) && alpha > 0.0f;
  const int32_t kind = st.blueprint[s];
  const float* params = st.slot[s] >= 0 ? pool.at(st.slot[s], PoolRegion::params) : nullptr;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kRowsPerBlock;
  const int64_t row_end = row0 + kRowsPerBlock < B ? row0 + kRowsPerBlock : B;
  float g[CMAX], xr[CMAX], jt[CMAX];
  for (int64_t r = row0 + threadIdx.y; r < row_end; r += kRowLanes) {
    const int64_t off = r * H + static_cast<int64_t>(s) * C;
    load_chunk<CMAX>(dy + off, C, vec, g);
    if (blended) {
      load_chunk<CMAX>(x + off, C, vec, xr);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c) jt[c] = 0.0f;
      float ga[CMAX];
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) ga[c] = alpha * g[c];
      blueprint_backward<CMAX, float>(kind, sh, params, xr, ga, jt, nullptr);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) g[c] = g[c] + jt[c];
    }
    store_chunk<CMAX>(dx + off, C, vec, g);
  }
}

template <int CMAX>
__global__ void __launch_bounds__(kGradThreads)
    morph_blueprint_grad_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                int64_t B, int64_t H, BlueprintShape sh, SeedStateView st,
                                PoolView<float> pool, float* __restrict__ grad_norm) {
  extern __shared__ float rowbuf[];
  using Reduce = cub::BlockReduce<float, kGradThreads>;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  const int32_t s = blockIdx.x;
  const int32_t stage = st.stage[s];
  if (!stage_trains(stage) || st.slot[s] < 0) {
    if (threadIdx.x == 0) grad_norm[s] = 0.0f;
    return;
  }
  const bool isolated = stage_trains_isolated(stage);
  const int32_t C = sh.chunk;
  const int32_t kind = st.blueprint[s];
  const int32_t P = blueprint_param_count(kind, sh);
  const float* params = pool.at(st.slot[s], PoolRegion::params);
  float* grad = pool.at(st.slot[s], PoolRegion::grad);
  const float alpha = st.alpha[s];
  const float iso_scale = 2.0f / (static_cast<float>(B) * static_cast<float>(C));
  int rows_per_tile = kGradSmemFloats / (P > 0 ? P : 1);
  rows_per_tile = rows_per_tile < 1
                      ? 1
                      : (rows_per_tile > kGradMaxRowsPerTile ? kGradMaxRowsPerTile : rows_per_tile);
  for (int i = threadIdx.x; i < pool.region; i += kGradThreads) grad[i] = 0.0f;
  for (int64_t r0 = 0; r0 < B; r0 += rows_per_tile) {
    const int rows = static_cast<int>(B - r0 < rows_per_tile ? B - r0 : rows_per_tile);
    for (int i = threadIdx.x; i < rows * P; i += kGradThreads) rowbuf[i] = 0.0f;
    __syncthreads();
    if (threadIdx.x < rows) {
      const int64_t off = (r0 + threadIdx.x) * H + static_cast<int64_t>(s) * C;
      float xr[CMAX], g[CMAX];
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) xr[c] = x[off + c];
      if (isolated) {
        blueprint_delta<CMAX, float>(kind, sh, params, xr, g);
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) g[c] = iso_scale * g[c];
      } else {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) g[c] = alpha * dy[off + c];
      }
      blueprint_backward<CMAX, float>(kind, sh, params, xr, g, nullptr, rowbuf + threadIdx.x * P);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < P; i += kGradThreads) {
      float acc = grad[i];
      for (int r = 0; r < rows; ++r) acc += rowbuf[r * P + i];
      grad[i] = acc;
    }
    __syncthreads();
  }
  float sq = 0.0f;
  for (int i = threadIdx.x; i < P; i += kGradThreads) sq += grad[i] * grad[i];
  const float total = Reduce(reduce_tmp).Sum(sq);
  if (threadIdx.x == 0) grad_norm[s] = sqrtf(total);
}

}  // namespace

void morph_backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                    bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_backward", "x");
  x.check_dtype(DType::f32);
  KASMINA_CHECK(dy.shape() == x.shape() && dy.dtype() == x.dtype() && dy.device() == x.device(),
                "morph_backward: dy shape/dtype/device differs from x");
  if (dx) {
    KASMINA_CHECK(
        dx->shape() == x.shape() && dx->dtype() == x.dtype() && dx->device() == x.device(),
        "morph_backward: dx shape/dtype/device differs from x");
  }
  if (B == 0) return;
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  cudaStream_t st = stream(L.device());
  const SeedStateView sv = morph_detail::state_view(L);
  const PoolView<float> pv = morph_detail::pool_view<float>(L);
  if (dx) {
    const bool vec =
        C % 4 == 0 && aligned16(x.raw()) && aligned16(dy.raw()) && aligned16(dx->raw());
    const dim3 grid(static_cast<unsigned>((L.seeds + kSeedsPerBlock - 1) / kSeedsPerBlock),
                    static_cast<unsigned>((B + kRowsPerBlock - 1) / kRowsPerBlock));
    const dim3 block(kSeedsPerBlock, kRowLanes);
    dispatch_chunk(C, [&]<int CMAX>() {
      morph_backward_input_kernel<CMAX><<<grid, block, 0, st>>>(
          x.data<float>(), dy.data<float>(), dx->data<float>(), B, H, L.shape, sv, pv, vec);
    });
    KASMINA_LAUNCH_CHECK("morph_backward_input_kernel");
  }
  if (param_grads) {
    const size_t smem = sizeof(float) * kGradSmemFloats;
    dispatch_chunk(C, [&]<int CMAX>() {
      morph_blueprint_grad_kernel<CMAX><<<L.seeds, kGradThreads, smem, st>>>(
          x.data<float>(), dy.data<float>(), B, H, L.shape, sv, pv, L.grad_norm.data<float>());
    });
    KASMINA_LAUNCH_CHECK("morph_blueprint_grad_kernel");
  }
}

}  // namespace kasmina::ops::cuda
