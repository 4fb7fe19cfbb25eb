// Kernels of the GEMM path's elementwise ops (src/ops/morph/morph_gemm_ops.hpp): each reads
// seed s's state on the device, runs a grid over the seed's B*C chunk values (and its parameter
// region), and the one reduction it may need (isolated loss, task measurement, gradient norm) is
// done by block 0 alone in a fixed order (f64 per thread, then a block reduction):
// deterministic without atomics. Bytes: the chunk's inputs and outputs, once.
#include <algorithm>

#include <cub/block/block_reduce.cuh>

#include "morph/blueprint_residual_mlp.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/morph/morph_checks.hpp"
#include "ops/morph/morph_gemm_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

using morph::PoolRegion;
// The blueprint these ops compute.
constexpr int32_t kResidual = static_cast<int32_t>(morph::BlueprintKind::residual_mlp);

constexpr int kThreads = 256;
using Reduce = cub::BlockReduce<double, kThreads>;

struct SeedArgs {
  morph::SeedStateView st;
  morph::PoolView<float> pool;
  uint32_t gemm_kinds = 0;
  int32_t s = 0;
  int32_t C = 0;
  int64_t B = 0, H = 0;
  GemmParamLayout lay;
  int32_t param_count = 0;
};

SeedArgs seed_args(const MorphLayerBuffers& L, int32_t s, int64_t B) {
  KASMINA_CHECK(s >= 0 && s < L.seeds, "morph_gemm: seed out of range");
  SeedArgs a;
  a.st = morph_detail::state_view(L);
  a.pool = morph_detail::pool_view<float>(L);
  a.gemm_kinds = L.gemm_kinds;
  a.s = s;
  a.C = L.shape.chunk;
  a.B = B;
  a.H = morph_detail::morph_width(L);
  a.lay = gemm_param_layout(L.shape);
  a.param_count = morph::ResidualMlp::param_count(L.shape);
  return a;
}

// Blocks for n values (grid-stride beyond 1024 blocks).
unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 1024));
}

void check_chunk(const SeedArgs& a, const Tensor& t, const char* op, const char* what) {
  KASMINA_CHECK(t.ndim() == 2 && t.dim(0) == a.B && t.dim(1) == a.C && t.dtype() == DType::f32,
                std::string(op) + ": " + what + " must be f32 [B, C], got " + shape_str(t.shape()));
}

__global__ void __launch_bounds__(kThreads)
    gather_kernel(SeedArgs a, const float* __restrict__ x, float* __restrict__ params,
                  float* __restrict__ xs) {
  const GemmSeedRole r = gemm_seed_role(a.st, a.gemm_kinds, kResidual, a.s, nullptr, false, false);
  const float* src = r.on ? a.pool.at(a.st.slot[a.s], PoolRegion::params) : nullptr;
  const int64_t n = a.B * a.C;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
       i < (n > a.param_count ? n : a.param_count); i += stride) {
    if (i < a.param_count) params[gemm_param_index(a.lay, i)] = src ? src[i] : 0.0f;
    if (xs && i < n) xs[i] = x[(i / a.C) * a.H + static_cast<int64_t>(a.s) * a.C + i % a.C];
  }
}

__global__ void __launch_bounds__(kThreads)
    blend_kernel(SeedArgs a, const uint8_t* mask, bool collect, const float* __restrict__ x,
                 const float* __restrict__ delta, float* __restrict__ out,
                 float* __restrict__ step_stats) {
  const GemmSeedRole r = gemm_seed_role(a.st, a.gemm_kinds, kResidual, a.s, mask, collect, false);
  const int64_t n = a.B * a.C;
  if (r.blended) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
         i += stride) {
      const int64_t o = (i / a.C) * a.H + static_cast<int64_t>(a.s) * a.C + i % a.C;
      out[o] = x[o] + r.alpha * delta[i];
    }
  }
  if (!r.isolated || blockIdx.x != 0) return;  // block-uniform
  __shared__ typename Reduce::TempStorage tmp;
  double iso = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const double v = delta[i];
    iso += v * v;
  }
  const double total = Reduce(tmp).Sum(iso);
  if (threadIdx.x == 0)
    step_stats[static_cast<int64_t>(a.s) * kMorphStepStats + 1] =
        static_cast<float>(total / static_cast<double>(n));
}

__global__ void __launch_bounds__(kThreads)
    delta_grad_kernel(SeedArgs a, bool param_grads, bool task, const float* __restrict__ dy,
                      const float* __restrict__ delta, float* __restrict__ g,
                      float* __restrict__ step_stats) {
  const GemmSeedRole r =
      gemm_seed_role(a.st, a.gemm_kinds, kResidual, a.s, nullptr, false, param_grads);
  const int64_t n = a.B * a.C;
  const float iso_scale = 2.0f / (static_cast<float>(a.B) * static_cast<float>(a.C));
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const int64_t o = (i / a.C) * a.H + static_cast<int64_t>(a.s) * a.C + i % a.C;
    g[i] = gemm_delta_grad<float>(r, task, iso_scale, dy[o], delta[i]);
  }
  if (!(r.isolated && task) || blockIdx.x != 0) return;  // block-uniform
  __shared__ typename Reduce::TempStorage tmp;
  double change = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const int64_t o = (i / a.C) * a.H + static_cast<int64_t>(a.s) * a.C + i % a.C;
    change += static_cast<double>(delta[i]) * dy[o];
  }
  const double total = Reduce(tmp).Sum(change);
  if (threadIdx.x == 0)
    step_stats[static_cast<int64_t>(a.s) * kMorphStepStats + 1] = static_cast<float>(total);
}

__global__ void __launch_bounds__(kThreads)
    scatter_kernel(SeedArgs a, bool param_grads, const float* __restrict__ dy,
                   const float* __restrict__ jt, float* __restrict__ dx,
                   const float* __restrict__ grads, float* __restrict__ grad_norm) {
  const GemmSeedRole r =
      gemm_seed_role(a.st, a.gemm_kinds, kResidual, a.s, nullptr, false, param_grads);
  const int64_t n = a.B * a.C;
  const bool write_dx = dx != nullptr && r.blended;
  float* dp = r.trains ? a.pool.at(a.st.slot[a.s], PoolRegion::grad) : nullptr;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
       i < (n > a.pool.region ? n : a.pool.region); i += stride) {
    if (write_dx && i < n) {
      const int64_t o = (i / a.C) * a.H + static_cast<int64_t>(a.s) * a.C + i % a.C;
      dx[o] = dy[o] + jt[i];
    }
    if (dp && i < a.pool.region)
      dp[i] = i < a.param_count ? grads[gemm_param_index(a.lay, i)] : 0.0f;
  }
  if (!(param_grads && r.on) || blockIdx.x != 0) return;  // block-uniform
  __shared__ typename Reduce::TempStorage tmp;
  double sq = 0.0;
  if (r.trains) {
    for (int64_t i = threadIdx.x; i < a.param_count; i += kThreads) {
      const double v = grads[gemm_param_index(a.lay, i)];
      sq += v * v;
    }
  }
  const double total = Reduce(tmp).Sum(sq);
  if (threadIdx.x == 0) grad_norm[a.s] = static_cast<float>(sqrt(total));
}

}  // namespace

void morph_gemm_gather(const MorphLayerBuffers& L, int32_t seed, const Tensor& x, Tensor& params,
                       Tensor* xs) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_gemm_gather", "x");
  x.check_dtype(DType::f32);
  const SeedArgs a = seed_args(L, seed, B);
  KASMINA_CHECK(params.numel() == a.lay.total && params.dtype() == DType::f32,
                "morph_gemm_gather: params must hold " + std::to_string(a.lay.total) + " floats");
  if (xs) check_chunk(a, *xs, "morph_gemm_gather", "xs");
  DeviceContext& ctx = context(L.device());
  gather_kernel<<<grid_for(std::max<int64_t>(B * a.C, a.param_count)), kThreads, 0, ctx.stream>>>(
      a, x.data<float>(), params.data<float>(), xs ? xs->data<float>() : nullptr);
  KASMINA_LAUNCH_CHECK("morph_gemm_gather_kernel");
}

void morph_gemm_blend(const MorphLayerBuffers& L, int32_t seed, const Tensor& x,
                      const Tensor& delta, Tensor& out, const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_gemm_blend", "x");
  morph_detail::check_activations(L, out, "morph_gemm_blend", "out");
  const SeedArgs a = seed_args(L, seed, B);
  check_chunk(a, delta, "morph_gemm_blend", "delta");
  if (B == 0) return;
  DeviceContext& ctx = context(L.device());
  const uint8_t* mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr;
  blend_kernel<<<grid_for(B * a.C), kThreads, 0, ctx.stream>>>(
      a, mask, opt.collect_stats, x.data<float>(), delta.data<float>(), out.data<float>(),
      L.step_stats.data<float>());
  KASMINA_LAUNCH_CHECK("morph_gemm_blend_kernel");
}

void morph_gemm_delta_grad(const MorphLayerBuffers& L, int32_t seed, const Tensor& dy,
                           const Tensor& delta, Tensor& g, bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, dy, "morph_gemm_delta_grad", "dy");
  const SeedArgs a = seed_args(L, seed, B);
  check_chunk(a, delta, "morph_gemm_delta_grad", "delta");
  check_chunk(a, g, "morph_gemm_delta_grad", "g");
  if (B == 0) return;
  DeviceContext& ctx = context(L.device());
  const bool task =
      L.training_objective == static_cast<int32_t>(morph::TrainingObjective::task_gradient);
  delta_grad_kernel<<<grid_for(B * a.C), kThreads, 0, ctx.stream>>>(
      a, param_grads, task, dy.data<float>(), delta.data<float>(), g.data<float>(),
      L.step_stats.data<float>());
  KASMINA_LAUNCH_CHECK("morph_gemm_delta_grad_kernel");
}

void morph_gemm_scatter(const MorphLayerBuffers& L, int32_t seed, const Tensor& dy,
                        const Tensor& jt, Tensor* dx, const Tensor& grads, bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, dy, "morph_gemm_scatter", "dy");
  const SeedArgs a = seed_args(L, seed, B);
  check_chunk(a, jt, "morph_gemm_scatter", "jt");
  if (dx) morph_detail::check_activations(L, *dx, "morph_gemm_scatter", "dx");
  KASMINA_CHECK(grads.numel() == a.lay.total && grads.dtype() == DType::f32,
                "morph_gemm_scatter: grads must hold " + std::to_string(a.lay.total) + " floats");
  DeviceContext& ctx = context(L.device());
  scatter_kernel<<<grid_for(std::max<int64_t>(B * a.C, a.pool.region)), kThreads, 0, ctx.stream>>>(
      a, param_grads, dy.data<float>(), jt.data<float>(), dx ? dx->data<float>() : nullptr,
      grads.data<float>(), L.grad_norm.data<float>());
  KASMINA_LAUNCH_CHECK("morph_gemm_scatter_kernel");
}

}  // namespace kasmina::ops::cuda
