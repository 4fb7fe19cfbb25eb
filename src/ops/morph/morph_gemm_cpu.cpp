// CPU twins of the GEMM path's elementwise ops (morph_gemm_ops.hpp).
#include <cmath>
#include <string>

#include "morph/blueprint_residual_mlp.hpp"
#include "ops/morph/morph_checks.hpp"
#include "ops/morph/morph_gemm_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

using morph::PoolRegion;
// The blueprint these ops compute.
constexpr int32_t kResidual = static_cast<int32_t>(morph::BlueprintKind::residual_mlp);

// Checks a [B, C] tensor of seed s's path and returns B.
int64_t check_chunk(const MorphLayerBuffers& L, const Tensor& t, int64_t B, const char* op,
                    const char* what) {
  KASMINA_CHECK(t.ndim() == 2 && t.dim(0) == B && t.dim(1) == L.shape.chunk &&
                    t.dtype() == L.pool.dtype() && t.device() == L.device(),
                std::string(op) + ": " + what + " must be [" + std::to_string(B) + ", " +
                    std::to_string(L.shape.chunk) + "] of the pool's dtype and device, got " +
                    shape_str(t.shape()));
  return B;
}

void check_seed(const MorphLayerBuffers& L, int32_t seed, const char* op) {
  KASMINA_CHECK(seed >= 0 && seed < L.seeds, std::string(op) + ": seed out of range");
}

template <class T>
void gather_impl(const MorphLayerBuffers& L, int32_t s, const Tensor& x, Tensor& params,
                 Tensor* xs) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_gemm_gather", "x");
  const GemmParamLayout lay = gemm_param_layout(L.shape);
  KASMINA_CHECK(params.numel() == lay.total && params.dtype() == x.dtype(),
                "morph_gemm_gather: params must hold " + std::to_string(lay.total) + " values");
  const morph::SeedStateView st = morph_detail::state_view(L);
  const morph::PoolView<T> pool = morph_detail::pool_view<T>(L);
  const GemmSeedRole r = gemm_seed_role(st, L.gemm_kinds, kResidual, s, nullptr, false, false);
  T* p = params.data<T>();
  for (int64_t i = 0; i < lay.total; ++i) p[i] = T(0);
  if (r.on) {
    const T* src = pool.at(st.slot[s], PoolRegion::params);
    const int32_t n = morph::ResidualMlp::param_count(L.shape);
    for (int32_t i = 0; i < n; ++i) p[gemm_param_index(lay, i)] = src[i];
  }
  if (!xs) return;
  check_chunk(L, *xs, B, "morph_gemm_gather", "xs");
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const T* xp = x.data<T>() + static_cast<int64_t>(s) * C;
  T* dst = xs->data<T>();
  for (int64_t b = 0; b < B; ++b)
    for (int32_t c = 0; c < C; ++c) dst[b * C + c] = xp[b * H + c];
}

template <class T>
void blend_impl(const MorphLayerBuffers& L, int32_t s, const Tensor& x, const Tensor& delta,
                Tensor& out, const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_gemm_blend", "x");
  morph_detail::check_activations(L, out, "morph_gemm_blend", "out");
  check_chunk(L, delta, B, "morph_gemm_blend", "delta");
  const morph::SeedStateView st = morph_detail::state_view(L);
  const uint8_t* mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr;
  const GemmSeedRole r =
      gemm_seed_role(st, L.gemm_kinds, kResidual, s, mask, opt.collect_stats, false);
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const T* xp = x.data<T>() + static_cast<int64_t>(s) * C;
  T* op = out.data<T>() + static_cast<int64_t>(s) * C;
  const T* d = delta.data<T>();
  const T alpha = static_cast<T>(r.alpha);
  double iso = 0.0;
  for (int64_t b = 0; b < B; ++b)
    for (int32_t c = 0; c < C; ++c) {
      const T v = d[b * C + c];
      if (r.blended) op[b * H + c] = xp[b * H + c] + alpha * v;
      iso += static_cast<double>(v) * v;
    }
  if (r.isolated)
    L.step_stats.data<float>()[s * kMorphStepStats + 1] =
        static_cast<float>(iso / (static_cast<double>(B) * C));
}

template <class T>
void delta_grad_impl(const MorphLayerBuffers& L, int32_t s, const Tensor& dy, const Tensor& delta,
                     Tensor& g, bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, dy, "morph_gemm_delta_grad", "dy");
  check_chunk(L, delta, B, "morph_gemm_delta_grad", "delta");
  check_chunk(L, g, B, "morph_gemm_delta_grad", "g");
  const morph::SeedStateView st = morph_detail::state_view(L);
  const GemmSeedRole r =
      gemm_seed_role(st, L.gemm_kinds, kResidual, s, nullptr, false, param_grads);
  const bool task =
      L.training_objective == static_cast<int32_t>(morph::TrainingObjective::task_gradient);
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const T iso_scale = T(2) / (static_cast<T>(B) * static_cast<T>(C));
  const T* dyp = dy.data<T>() + static_cast<int64_t>(s) * C;
  const T* d = delta.data<T>();
  T* gp = g.data<T>();
  double change = 0.0;
  for (int64_t b = 0; b < B; ++b)
    for (int32_t c = 0; c < C; ++c) {
      const T v = d[b * C + c], u = dyp[b * H + c];
      gp[b * C + c] = gemm_delta_grad<T>(r, task, iso_scale, u, v);
      change += static_cast<double>(v) * u;
    }
  if (r.isolated && task)
    L.step_stats.data<float>()[s * kMorphStepStats + 1] = static_cast<float>(change);
}

template <class T>
void scatter_impl(const MorphLayerBuffers& L, int32_t s, const Tensor& dy, const Tensor& jt,
                  Tensor* dx, const Tensor& grads, bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, dy, "morph_gemm_scatter", "dy");
  check_chunk(L, jt, B, "morph_gemm_scatter", "jt");
  const GemmParamLayout lay = gemm_param_layout(L.shape);
  KASMINA_CHECK(grads.numel() == lay.total && grads.dtype() == dy.dtype(),
                "morph_gemm_scatter: grads must hold " + std::to_string(lay.total) + " values");
  const morph::SeedStateView st = morph_detail::state_view(L);
  const GemmSeedRole r =
      gemm_seed_role(st, L.gemm_kinds, kResidual, s, nullptr, false, param_grads);
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  if (dx && r.blended) {
    morph_detail::check_activations(L, *dx, "morph_gemm_scatter", "dx");
    const T* dyp = dy.data<T>() + static_cast<int64_t>(s) * C;
    T* dxp = dx->data<T>() + static_cast<int64_t>(s) * C;
    const T* j = jt.data<T>();
    for (int64_t b = 0; b < B; ++b)
      for (int32_t c = 0; c < C; ++c) dxp[b * H + c] = dyp[b * H + c] + j[b * C + c];
  }
  if (!param_grads || !r.on) return;
  double sq = 0.0;
  if (r.trains) {
    const morph::PoolView<T> pool = morph_detail::pool_view<T>(L);
    T* dp = pool.at(st.slot[s], PoolRegion::grad);
    const int32_t n = morph::ResidualMlp::param_count(L.shape);
    const T* gp = grads.data<T>();
    for (int32_t i = 0; i < pool.region; ++i) {
      dp[i] = i < n ? gp[gemm_param_index(lay, i)] : T(0);
      sq += static_cast<double>(dp[i]) * dp[i];
    }
  }
  L.grad_norm.data<float>()[s] = static_cast<float>(std::sqrt(sq));
}

}  // namespace

void morph_gemm_gather(const MorphLayerBuffers& L, int32_t seed, const Tensor& x, Tensor& params,
                       Tensor* xs) {
  check_seed(L, seed, "morph_gemm_gather");
  if (x.dtype() == DType::f64) return gather_impl<double>(L, seed, x, params, xs);
  gather_impl<float>(L, seed, x, params, xs);
}

void morph_gemm_blend(const MorphLayerBuffers& L, int32_t seed, const Tensor& x,
                      const Tensor& delta, Tensor& out, const MorphForwardOptions& opt) {
  check_seed(L, seed, "morph_gemm_blend");
  if (x.dtype() == DType::f64) return blend_impl<double>(L, seed, x, delta, out, opt);
  blend_impl<float>(L, seed, x, delta, out, opt);
}

void morph_gemm_delta_grad(const MorphLayerBuffers& L, int32_t seed, const Tensor& dy,
                           const Tensor& delta, Tensor& g, bool param_grads) {
  check_seed(L, seed, "morph_gemm_delta_grad");
  if (dy.dtype() == DType::f64) return delta_grad_impl<double>(L, seed, dy, delta, g, param_grads);
  delta_grad_impl<float>(L, seed, dy, delta, g, param_grads);
}

void morph_gemm_scatter(const MorphLayerBuffers& L, int32_t seed, const Tensor& dy,
                        const Tensor& jt, Tensor* dx, const Tensor& grads, bool param_grads) {
  check_seed(L, seed, "morph_gemm_scatter");
  if (dy.dtype() == DType::f64)
    return scatter_impl<double>(L, seed, dy, jt, dx, grads, param_grads);
  scatter_impl<float>(L, seed, dy, jt, dx, grads, param_grads);
}

}  // namespace kasmina::ops::cpu
