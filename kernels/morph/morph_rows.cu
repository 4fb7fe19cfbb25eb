// Kernels of the row group's elementwise ops (src/ops/morph/morph_rows.hpp). Each reads the
// seeds' state on the device. The per-seed reductions (isolated loss, task measurement, gradient
// norm) are done by the first block of the seed's row of the grid alone, in a fixed order (f64
// per thread, then a block reduction): deterministic without atomics.
#include <algorithm>

#include <cub/block/block_reduce.cuh>

#include "ops/cuda/device_context.hpp"
#include "ops/morph/morph_checks.hpp"
#include "ops/morph/morph_rows.hpp"

namespace kasmina::ops::cuda {

namespace {

using morph::PoolRegion;

constexpr int kThreads = 256;
constexpr int32_t kRow = morph::kRowMlpKind;
using Reduce = cub::BlockReduce<double, kThreads>;

struct RowArgs {
  morph::SeedStateView st;
  morph::PoolView<float> pool;
  morph::BlueprintShape sh;
  uint32_t gemm_kinds = 0;
  int32_t S = 0;
  int64_t B = 0, H = 0;
  int32_t param_count = 0;
};

RowArgs row_args(const MorphLayerBuffers& L, int64_t B) {
  RowArgs a;
  a.st = morph_detail::state_view(L);
  a.pool = morph_detail::pool_view<float>(L);
  a.sh = L.shape;
  a.gemm_kinds = L.gemm_kinds;
  a.S = L.seeds;
  a.B = B;
  a.H = morph_detail::morph_width(L);
  a.param_count = morph::RowMlp::param_count(L.shape);
  KASMINA_CHECK(a.sh.width == a.H, "morph_rows: shape.width must be the layer's width");
  return a;
}

// Blocks for n values (grid-stride past the cap).
unsigned grid_for(int64_t n, int64_t cap = 1024) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, cap));
}

void check_f32(const Tensor& t, int64_t n, const char* op, const char* what) {
  KASMINA_CHECK(
      t.defined() && t.numel() == n && t.dtype() == DType::f32 && t.device().is_cuda(),
      std::string(op) + ": " + what + " must hold " + std::to_string(n) + " floats on the GPU");
}
void check_stacks(const RowArgs& a, const MorphRowParams& p, bool params, const char* op) {
  const int64_t Sh = int64_t{a.S} * a.sh.hidden;
  check_f32(p.w1, Sh * a.H, op, "w1");
  check_f32(p.b1, Sh, op, "b1");
  check_f32(p.w2, a.H * Sh, op, "w2");
  check_f32(p.b2, a.H, op, "b2");
  if (params) check_f32(p.w1dx, Sh * a.H, op, "w1dx");
}

struct Stacks {
  float *w1, *b1, *w2, *b2, *w1dx;
};
Stacks stacks(const MorphRowParams& p) {
  auto ptr = [](const Tensor& t) {
    return t.defined() ? const_cast<float*>(t.data<float>()) : nullptr;
  };
  return {ptr(p.w1), ptr(p.b1), ptr(p.w2), ptr(p.b2), ptr(p.w1dx)};
}

// Every element of the five stacks from its own index: the seed and parameter it holds (or 0).
__global__ void __launch_bounds__(kThreads) gather_kernel(RowArgs a, Stacks p) {
  const int64_t h = a.sh.hidden, C = a.sh.chunk, Sh = a.S * h;
  const int64_t n_w1 = Sh * a.H, n_w2 = a.H * Sh;
  const int64_t total = n_w1 + Sh + n_w2 + a.H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; e < total;
       e += stride) {
    int64_t i = e;
    int32_t s = 0;
    int64_t param = -1;  // index in the seed's slot, -1: structurally zero
    float* dst = nullptr;
    float* dst_dx = nullptr;
    if (i < n_w1) {
      const int64_t row = i / a.H, k = i % a.H;
      s = static_cast<int32_t>(row / h);
      param = (row % h) * a.H + k;
      dst = p.w1 + i;
      dst_dx = p.w1dx + i;
    } else if ((i -= n_w1) < Sh) {
      s = static_cast<int32_t>(i / h);
      param = h * a.H + i % h;
      dst = p.b1 + i;
    } else if ((i -= Sh) < n_w2) {
      const int64_t r = i / Sh, col = i % Sh;
      s = static_cast<int32_t>(r / C);
      if (col / h == s) param = h * a.H + h + (r % C) * h + col % h;
      dst = p.w2 + i;
    } else {
      i -= n_w2;
      s = static_cast<int32_t>(i / C);
      param = h * a.H + h + C * h + i % C;
      dst = p.b2 + i;
    }
    const GemmSeedRole r = gemm_seed_role(a.st, a.gemm_kinds, kRow, s, nullptr, false, false);
    const float v =
        (r.on && param >= 0) ? a.pool.at(a.st.slot[s], PoolRegion::params)[param] : 0.0f;
    *dst = v;
    if (dst_dx) *dst_dx = r.blended ? v : 0.0f;
  }
}

// Column of the i-th value of seed s's chunk in a [B, H] matrix (i < B*C).
__device__ __forceinline__ int64_t chunk_at(const RowArgs& a, int32_t s, int64_t i) {
  return (i / a.sh.chunk) * a.H + static_cast<int64_t>(s) * a.sh.chunk + i % a.sh.chunk;
}

// Grid (x, S): blockIdx.y is the seed.
__global__ void __launch_bounds__(kThreads)
    blend_kernel(RowArgs a, const uint8_t* mask, bool collect, const float* __restrict__ x,
                 const float* __restrict__ delta, float* __restrict__ out,
                 float* __restrict__ step_stats) {
  const int32_t s = static_cast<int32_t>(blockIdx.y);
  const GemmSeedRole r = gemm_seed_role(a.st, a.gemm_kinds, kRow, s, mask, collect, false);
  const int64_t n = a.B * a.sh.chunk;
  if (r.blended) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
         i += stride) {
      const int64_t o = chunk_at(a, s, i);
      out[o] = x[o] + r.alpha * delta[o];
    }
  }
  if (!r.isolated || blockIdx.x != 0) return;  // block-uniform
  __shared__ typename Reduce::TempStorage tmp;
  double iso = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const double v = delta[chunk_at(a, s, i)];
    iso += v * v;
  }
  const double total = Reduce(tmp).Sum(iso);
  if (threadIdx.x == 0)
    step_stats[static_cast<int64_t>(s) * kMorphStepStats + 1] =
        static_cast<float>(total / static_cast<double>(n));
}

__global__ void __launch_bounds__(kThreads)
    delta_grad_kernel(RowArgs a, bool param_grads, bool task, const float* __restrict__ dy,
                      const float* __restrict__ delta, float* __restrict__ g,
                      float* __restrict__ step_stats) {
  const int32_t s = static_cast<int32_t>(blockIdx.y);
  const GemmSeedRole r = gemm_seed_role(a.st, a.gemm_kinds, kRow, s, nullptr, false, param_grads);
  const int64_t n = a.B * a.sh.chunk;
  const float iso_scale = 2.0f / (static_cast<float>(a.B) * static_cast<float>(a.sh.chunk));
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const int64_t o = chunk_at(a, s, i);
    g[o] = gemm_delta_grad<float>(r, task, iso_scale, dy[o], delta[o]);
  }
  if (!(r.isolated && task) || blockIdx.x != 0) return;  // block-uniform
  __shared__ typename Reduce::TempStorage tmp;
  double change = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const int64_t o = chunk_at(a, s, i);
    change += static_cast<double>(delta[o]) * dy[o];
  }
  const double total = Reduce(tmp).Sum(change);
  if (threadIdx.x == 0)
    step_stats[static_cast<int64_t>(s) * kMorphStepStats + 1] = static_cast<float>(total);
}

// Grid (x, S). All blocks together add jt to dx (when some seed is blended); the blocks of row
// s write seed s's slot gradient, the first of them its norm.
__global__ void __launch_bounds__(kThreads)
    scatter_kernel(RowArgs a, bool param_grads, const float* __restrict__ jt,
                   float* __restrict__ dx, Stacks d, float* __restrict__ grad_norm) {
  __shared__ int any_blended;
  if (threadIdx.x == 0) any_blended = 0;
  __syncthreads();
  if (dx) {
    for (int32_t s = threadIdx.x; s < a.S; s += kThreads)
      if (gemm_seed_role(a.st, a.gemm_kinds, kRow, s, nullptr, false, param_grads).blended)
        any_blended = 1;
  }
  __syncthreads();
  if (any_blended) {
    const int64_t n = a.B * a.H;
    const int64_t blocks = static_cast<int64_t>(gridDim.x) * gridDim.y;
    const int64_t stride = blocks * kThreads;
    for (int64_t i =
             (static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x) * kThreads + threadIdx.x;
         i < n; i += stride)
      dx[i] += jt[i];
  }
  if (!param_grads) return;
  const int32_t s = static_cast<int32_t>(blockIdx.y);
  const GemmSeedRole r = gemm_seed_role(a.st, a.gemm_kinds, kRow, s, nullptr, false, true);
  if (!r.on) return;  // block-uniform
  const float* stack[4] = {d.w1, d.b1, d.w2, d.b2};
  if (r.trains) {
    float* dp = a.pool.at(a.st.slot[s], PoolRegion::grad);
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < a.pool.region;
         i += stride) {
      float v = 0.0f;
      if (i < a.param_count) {
        const RowParamAt at = row_param_at(a.sh, a.S, s, i);
        v = stack[at.stack][at.at];
      }
      dp[i] = v;
    }
  }
  if (blockIdx.x != 0) return;
  __shared__ typename Reduce::TempStorage tmp;
  double sq = 0.0;
  if (r.trains) {
    for (int64_t i = threadIdx.x; i < a.param_count; i += kThreads) {
      const RowParamAt at = row_param_at(a.sh, a.S, s, i);
      const double v = stack[at.stack][at.at];
      sq += v * v;
    }
  }
  const double total = Reduce(tmp).Sum(sq);
  if (threadIdx.x == 0) grad_norm[s] = static_cast<float>(sqrt(total));
}

dim3 seed_grid(int64_t per_seed, int32_t S) {
  return dim3(grid_for(per_seed, 256), static_cast<unsigned>(S));
}

}  // namespace

void morph_rows_gather(const MorphLayerBuffers& L, MorphRowParams& p) {
  const RowArgs a = row_args(L, 0);
  check_stacks(a, p, true, "morph_rows_gather");
  const int64_t Sh = int64_t{a.S} * a.sh.hidden;
  const int64_t total = 2 * Sh * a.H + Sh + a.H;
  DeviceContext& ctx = context(L.device());
  gather_kernel<<<grid_for(total), kThreads, 0, ctx.stream>>>(a, stacks(p));
  KASMINA_LAUNCH_CHECK("morph_rows_gather_kernel");
}

void morph_rows_blend(const MorphLayerBuffers& L, const Tensor& x, const Tensor& delta, Tensor& out,
                      const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_rows_blend", "x");
  morph_detail::check_activations(L, out, "morph_rows_blend", "out");
  morph_detail::check_activations(L, delta, "morph_rows_blend", "delta");
  KASMINA_CHECK(delta.dim(0) == B && out.dim(0) == B, "morph_rows_blend: batch sizes differ");
  if (B == 0) return;
  const RowArgs a = row_args(L, B);
  DeviceContext& ctx = context(L.device());
  const uint8_t* mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr;
  blend_kernel<<<seed_grid(B * a.sh.chunk, a.S), kThreads, 0, ctx.stream>>>(
      a, mask, opt.collect_stats, x.data<float>(), delta.data<float>(), out.data<float>(),
      L.step_stats.data<float>());
  KASMINA_LAUNCH_CHECK("morph_rows_blend_kernel");
}

void morph_rows_delta_grad(const MorphLayerBuffers& L, const Tensor& dy, const Tensor& delta,
                           Tensor& g, bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, dy, "morph_rows_delta_grad", "dy");
  morph_detail::check_activations(L, delta, "morph_rows_delta_grad", "delta");
  morph_detail::check_activations(L, g, "morph_rows_delta_grad", "g");
  KASMINA_CHECK(delta.dim(0) == B && g.dim(0) == B, "morph_rows_delta_grad: batch sizes differ");
  if (B == 0) return;
  const RowArgs a = row_args(L, B);
  DeviceContext& ctx = context(L.device());
  const bool task =
      L.training_objective == static_cast<int32_t>(morph::TrainingObjective::task_gradient);
  delta_grad_kernel<<<seed_grid(B * a.sh.chunk, a.S), kThreads, 0, ctx.stream>>>(
      a, param_grads, task, dy.data<float>(), delta.data<float>(), g.data<float>(),
      L.step_stats.data<float>());
  KASMINA_LAUNCH_CHECK("morph_rows_delta_grad_kernel");
}

void morph_rows_scatter(const MorphLayerBuffers& L, const Tensor& jt, Tensor* dx,
                        const MorphRowParams& d, bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, jt, "morph_rows_scatter", "jt");
  if (dx) {
    morph_detail::check_activations(L, *dx, "morph_rows_scatter", "dx");
    KASMINA_CHECK(dx->dim(0) == B, "morph_rows_scatter: batch sizes differ");
  }
  const RowArgs a = row_args(L, B);
  if (param_grads) check_stacks(a, d, false, "morph_rows_scatter");
  if (!param_grads && (!dx || B == 0)) return;
  DeviceContext& ctx = context(L.device());
  const int64_t per_seed = std::max<int64_t>(param_grads ? a.pool.region : 0, (B * a.H) / a.S + 1);
  scatter_kernel<<<seed_grid(per_seed, a.S), kThreads, 0, ctx.stream>>>(
      a, param_grads, jt.data<float>(), dx ? dx->data<float>() : nullptr, stacks(d),
      L.grad_norm.data<float>());
  KASMINA_LAUNCH_CHECK("morph_rows_scatter_kernel");
}

}  // namespace kasmina::ops::cuda
