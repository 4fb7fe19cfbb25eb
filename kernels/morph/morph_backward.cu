// Fused backward of a morphogenetic layer, three launches:
//  1. input gradient: one launch (morph_input_grad_kernel, kernels/morph/morph_stream.cuh):
//     dx = dy for every seed at memory speed, dy + alpha * J^T dy for blended seeds from seed
//     blocks that run beside the copy. Bytes: 8*B*S*C + x of blended chunks.
//  2. blueprint gradients of training seeds, parallel over groups of 8 seeds and row groups: a
//     partial kernel (grid ceil(S/8) x ceil(B/64); a block compacts its training seeds and takes
//     them in turn) has each lane sum its rows' parameter-gradient contributions in row order
//     and the block add its lanes in lane order into a scratch partial per (seed, row group); a
//     fold kernel (a block per 8 seeds) adds the row groups in order into the slot's gradient
//     region and writes grad_norm[s].
//     Fixed orders throughout: deterministic without atomics.
//     Bytes: read x (and dy) of training seeds' chunks, 4*S_train*groups*P of partials.
#include <algorithm>

#include <cub/block/block_reduce.cuh>

#include "kernels/morph/morph_kernel_common.cuh"
#include "kernels/morph/morph_stream.cuh"
#include "ops/cuda/device_context.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;
using namespace kasmina::ops::cuda::morph_kernels;

constexpr int kGradLanes = 64;          // threads of a partial-gradient block
constexpr int kGradRowsPerGroup = 64;   // rows per partial-gradient block
constexpr int kGradSmemFloats = 11264;  // 44 KiB: staged parameters + one gradient slice per lane
constexpr int kGradStagedParamsMax = 2048;  // parameter regions up to this are staged in smem
constexpr int kFoldThreads = 128;
constexpr int kGradSeedsPerBlock = 8;  // seeds scanned by one partial-gradient block
constexpr int kFoldSeedsPerBlock = 8;  // seeds scanned by one fold block

// Indices of the seeds in [s0, s0 + n) (n <= 32) that train (stage and slot), in seed order,
// compacted by warp 0 into list; returns the count to every thread (ends with a block barrier).
__device__ int training_seeds(const SeedStateView& st, int32_t s0, int n, int32_t* list,
                              int* count) {
  if (threadIdx.x < 32) {
    const int t = static_cast<int>(threadIdx.x);
    const int32_t s = s0 + t;
    const bool trains = t < n && s < st.seeds && stage_trains(st.stage[s]) && st.slot[s] >= 0;
    const unsigned m = __ballot_sync(0xffffffffu, trains);
    if (trains) list[__popc(m & ((1u << t) - 1u))] = s;
    if (t == 0) *count = __popc(m);
  }
  __syncthreads();
  return *count;
}

// Row-group partial gradients: block (b, g) handles rows [g*R, (g+1)*R) of the training seeds
// among seeds [b*kGradSeedsPerBlock, (b+1)*kGradSeedsPerBlock), one after another (few blocks,
// so the many seeds that do not train cost one stage read per block, not a block each). Per
// seed: lane t accumulates its rows t, t+T, ... in order into its own shared slice (odd stride:
// no bank conflicts in the fold); then thread i adds parameter i over the lanes in a fixed order
// and writes it to part[(s * groups + g) * region + i].
template <int CMAX>
__global__ void __launch_bounds__(kGradLanes)
    morph_blueprint_grad_partial_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                        int64_t B, int64_t H, BlueprintShape sh, SeedStateView st,
                                        PoolView<float> pool, bool vec, bool params_in_smem,
                                        int32_t lane_floats, float* __restrict__ part) {
  extern __shared__ float grad_smem[];
  __shared__ int32_t list[kGradSeedsPerBlock];
  __shared__ int count;
  const int n = training_seeds(st, static_cast<int32_t>(blockIdx.x) * kGradSeedsPerBlock,
                               kGradSeedsPerBlock, list, &count);
  const int32_t C = sh.chunk;
  const float iso_scale = 2.0f / (static_cast<float>(B) * static_cast<float>(C));
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kGradRowsPerGroup;
  const int64_t row_end = row0 + kGradRowsPerGroup < B ? row0 + kGradRowsPerGroup : B;
  const int lane = static_cast<int>(threadIdx.x);
  // [staged parameters (pool.region floats, when params_in_smem)] [lane slices (lane_floats)]
  float* lanebuf = grad_smem + (params_in_smem ? pool.region : 0);
  for (int j = 0; j < n; ++j) {
    const int32_t s = list[j];
    const int32_t stage = st.stage[s];
    const bool isolated = stage_trains_isolated(stage);
    const int32_t kind = st.blueprint[s];
    const int32_t P = blueprint_param_count(kind, sh);
    const int32_t stride = P | 1;
    const float* params = pool.at(st.slot[s], PoolRegion::params);
    if (j > 0) __syncthreads();  // the previous seed's fold has read the shared memory
    if (params_in_smem) {
      stage_params(params, P, grad_smem, lane, kGradLanes);
      __syncthreads();
      params = grad_smem;
    }
    const float alpha = st.alpha[s];
    int lanes = lane_floats / stride;
    lanes = lanes < 1 ? 1 : (lanes > kGradLanes ? kGradLanes : lanes);
    if (lane < lanes) {
      float* mine = lanebuf + lane * stride;
      for (int i = 0; i < P; ++i) mine[i] = 0.0f;
      for (int64_t r = row0 + lane; r < row_end; r += lanes) {
        const int64_t off = r * H + static_cast<int64_t>(s) * C;
        float xr[CMAX], g[CMAX];
        load_chunk<CMAX>(x + off, C, vec, xr);
        if (isolated) {
          blueprint_delta<CMAX, float>(kind, sh, params, xr, g);
          KASMINA_MORPH_UNROLL
          for (int c = 0; c < CMAX; ++c)
            if (c < C) g[c] = iso_scale * g[c];
        } else {
          load_chunk<CMAX>(dy + off, C, vec, g);
          KASMINA_MORPH_UNROLL
          for (int c = 0; c < CMAX; ++c)
            if (c < C) g[c] = alpha * g[c];
        }
        blueprint_backward<CMAX, float>(kind, sh, params, xr, g, nullptr, mine);
      }
    }
    __syncthreads();
    float* out = part + (static_cast<int64_t>(s) * gridDim.y + blockIdx.y) * pool.region;
    // Four interleaved accumulators (lanes l % 4) combined as (a0 + a1) + (a2 + a3): a fixed
    // order with four independent add chains instead of one.
    for (int i = lane; i < P; i += kGradLanes) {
      float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
      int l = 0;
      for (; l + 4 <= lanes; l += 4) {
        a0 += lanebuf[l * stride + i];
        a1 += lanebuf[(l + 1) * stride + i];
        a2 += lanebuf[(l + 2) * stride + i];
        a3 += lanebuf[(l + 3) * stride + i];
      }
      for (; l < lanes; ++l) a0 += lanebuf[l * stride + i];
      out[i] = (a0 + a1) + (a2 + a3);
    }
  }
}

// Block b folds seeds [b*kFoldSeedsPerBlock, ...): grad_norm = 0 for seeds that do not train;
// for each training seed, the row-group partials are added in group order into the slot's
// gradient region (zero past the parameter count) and grad_norm[s] is written.
__global__ void __launch_bounds__(kFoldThreads)
    morph_blueprint_grad_fold_kernel(const float* __restrict__ part, int32_t groups,
                                     BlueprintShape sh, SeedStateView st, PoolView<float> pool,
                                     float* __restrict__ grad_norm) {
  using Reduce = cub::BlockReduce<float, kFoldThreads>;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  __shared__ int32_t list[kFoldSeedsPerBlock];
  __shared__ int count;
  const int32_t s0 = static_cast<int32_t>(blockIdx.x) * kFoldSeedsPerBlock;
  if (threadIdx.x < kFoldSeedsPerBlock && s0 + static_cast<int32_t>(threadIdx.x) < st.seeds)
    grad_norm[s0 + threadIdx.x] = 0.0f;  // overwritten below for training seeds
  const int n = training_seeds(st, s0, kFoldSeedsPerBlock, list, &count);
  for (int j = 0; j < n; ++j) {
    const int32_t s = list[j];
    const int32_t P = blueprint_param_count(st.blueprint[s], sh);
    float* grad = pool.at(st.slot[s], PoolRegion::grad);
    const float* mine = part + static_cast<int64_t>(s) * groups * pool.region;
    float sq = 0.0f;
    for (int i = threadIdx.x; i < pool.region; i += kFoldThreads) {
      float acc = 0.0f;
      if (i < P) {
        for (int32_t g = 0; g < groups; ++g) acc += mine[static_cast<int64_t>(g) * pool.region + i];
      }
      grad[i] = acc;
      sq += acc * acc;
    }
    if (j > 0) __syncthreads();  // reduce_tmp reuse
    const float total = Reduce(reduce_tmp).Sum(sq);
    if (threadIdx.x == 0) grad_norm[s] = sqrtf(total);
  }
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
    // The copy kernel writes dx before the blend and gradient kernels read x and dy.
    KASMINA_CHECK(dx->raw() != x.raw() && dx->raw() != dy.raw(),
                  "morph_backward: dx may not alias x or dy");
  }
  if (B == 0) return;
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  cudaStream_t st = stream(L.device());
  const SeedStateView sv = morph_detail::state_view(L);
  const PoolView<float> pv = morph_detail::pool_view<float>(L);
  if (dx) {
    MorphInputGradArgs a;
    a.dy = dy.data<float>();
    a.dx = dx->data<float>();
    a.x = x.data<float>();
    a.B = B;
    a.H = H;
    a.S = L.seeds;
    a.C = C;
    a.sh = L.shape;
    a.st = sv;
    a.pool = pv;
    launch_morph_input_grad(a, st);
  }
  if (param_grads) {
    const int32_t groups = static_cast<int32_t>((B + kGradRowsPerGroup - 1) / kGradRowsPerGroup);
    auto* part = static_cast<float*>(scratch(
        context(L.device()),
        sizeof(float) * static_cast<size_t>(L.seeds) * static_cast<size_t>(groups) * pv.region));
    const bool vec = C % 4 == 0 && aligned16(x.raw()) && aligned16(dy.raw());
    // Shared memory: the parameters (when small enough) and one gradient slice per lane, no
    // more than the widest blueprint of the layer needs (more resident blocks for small ones).
    const bool params_in_smem = pv.region <= kGradStagedParamsMax;
    const int32_t staged = params_in_smem ? pv.region : 0;
    const int32_t lane_floats = std::min(kGradSmemFloats - staged, kGradLanes * (pv.region | 1));
    const size_t smem = sizeof(float) * static_cast<size_t>(staged + lane_floats);
    const dim3 grid(static_cast<unsigned>((L.seeds + kGradSeedsPerBlock - 1) / kGradSeedsPerBlock),
                    static_cast<unsigned>(groups));
    dispatch_chunk(C, [&]<int CMAX>() {
      morph_blueprint_grad_partial_kernel<CMAX>
          <<<grid, kGradLanes, smem, st>>>(x.data<float>(), dy.data<float>(), B, H, L.shape, sv, pv,
                                           vec, params_in_smem, lane_floats, part);
    });
    KASMINA_LAUNCH_CHECK("morph_blueprint_grad_partial_kernel");
    morph_blueprint_grad_fold_kernel<<<static_cast<unsigned>((L.seeds + kFoldSeedsPerBlock - 1) /
                                                             kFoldSeedsPerBlock),
                                       kFoldThreads, 0, st>>>(part, groups, L.shape, sv, pv,
                                                              L.grad_norm.data<float>());
    KASMINA_LAUNCH_CHECK("morph_blueprint_grad_fold_kernel");
  }
}

}  // namespace kasmina::ops::cuda
