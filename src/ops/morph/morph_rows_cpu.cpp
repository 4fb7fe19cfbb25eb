// CPU twins of the row group's elementwise ops (morph_rows.hpp).
#include <cmath>
#include <string>

#include "ops/morph/morph_checks.hpp"
#include "ops/morph/morph_rows.hpp"

namespace kasmina::ops::cpu {

namespace {

using morph::PoolRegion;
constexpr int32_t kRow = morph::kRowMlpKind;

void check_matrix(const Tensor& t, int64_t rows, int64_t cols, DType dt, const char* op,
                  const char* what) {
  KASMINA_CHECK(t.defined() && t.ndim() == 2 && t.dim(0) == rows && t.dim(1) == cols &&
                    t.dtype() == dt && t.device().is_cpu(),
                std::string(op) + ": " + what + " must be [" + std::to_string(rows) + ", " +
                    std::to_string(cols) + "] of the pool's dtype on the CPU, got " +
                    (t.defined() ? shape_str(t.shape()) : std::string("none")));
}
void check_vector(const Tensor& t, int64_t n, DType dt, const char* op, const char* what) {
  KASMINA_CHECK(t.defined() && t.ndim() == 1 && t.dim(0) == n && t.dtype() == dt,
                std::string(op) + ": " + what + " must be [" + std::to_string(n) + "]");
}
// The stacks' shapes (w1dx only when `params`).
void check_stacks(const MorphLayerBuffers& L, const MorphRowParams& p, bool params,
                  const char* op) {
  const int64_t H = morph_detail::morph_width(L), Sh = int64_t{L.seeds} * L.shape.hidden;
  const DType dt = L.pool.dtype();
  KASMINA_CHECK(L.shape.width == H, std::string(op) + ": shape.width must be the layer's width");
  check_matrix(p.w1, Sh, H, dt, op, "w1");
  check_vector(p.b1, Sh, dt, op, "b1");
  check_matrix(p.w2, H, Sh, dt, op, "w2");
  check_vector(p.b2, H, dt, op, "b2");
  if (params) check_matrix(p.w1dx, Sh, H, dt, op, "w1dx");
}

template <class T>
T* stack_ptr(const MorphRowParams& p, int32_t stack) {
  const Tensor* t[4] = {&p.w1, &p.b1, &p.w2, &p.b2};
  return const_cast<T*>(t[stack]->data<T>());
}

template <class T>
void gather_impl(const MorphLayerBuffers& L, MorphRowParams& p) {
  check_stacks(L, p, true, "morph_rows_gather");
  const morph::SeedStateView st = morph_detail::state_view(L);
  const morph::PoolView<T> pool = morph_detail::pool_view<T>(L);
  for (Tensor* t : {&p.w1, &p.b1, &p.w2, &p.b2, &p.w1dx}) {
    T* d = t->data<T>();
    for (int64_t i = 0; i < t->numel(); ++i) d[i] = T(0);
  }
  const int32_t n = morph::RowMlp::param_count(L.shape);
  for (int32_t s = 0; s < L.seeds; ++s) {
    const GemmSeedRole r = gemm_seed_role(st, L.gemm_kinds, kRow, s, nullptr, false, false);
    if (!r.on) continue;
    const T* src = pool.at(st.slot[s], PoolRegion::params);
    for (int32_t i = 0; i < n; ++i) {
      const RowParamAt at = row_param_at(L.shape, L.seeds, s, i);
      stack_ptr<T>(p, at.stack)[at.at] = src[i];
      if (at.stack == 0 && r.blended) p.w1dx.data<T>()[at.at] = src[i];
    }
  }
}

template <class T>
void blend_impl(const MorphLayerBuffers& L, const Tensor& x, const Tensor& delta, Tensor& out,
                const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_rows_blend", "x");
  morph_detail::check_activations(L, out, "morph_rows_blend", "out");
  morph_detail::check_activations(L, delta, "morph_rows_blend", "delta");
  KASMINA_CHECK(delta.dim(0) == B && out.dim(0) == B, "morph_rows_blend: batch sizes differ");
  const morph::SeedStateView st = morph_detail::state_view(L);
  const uint8_t* mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr;
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const T *xp = x.data<T>(), *d = delta.data<T>();
  T* op = out.data<T>();
  for (int32_t s = 0; s < L.seeds; ++s) {
    const GemmSeedRole r =
        gemm_seed_role(st, L.gemm_kinds, kRow, s, mask, opt.collect_stats, false);
    const T alpha = static_cast<T>(r.alpha);
    double iso = 0.0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = int64_t{s} * C; c < int64_t{s + 1} * C; ++c) {
        const T v = d[b * H + c];
        if (r.blended) op[b * H + c] = xp[b * H + c] + alpha * v;
        iso += static_cast<double>(v) * v;
      }
    if (r.isolated)
      L.step_stats.data<float>()[s * kMorphStepStats + 1] =
          static_cast<float>(iso / (static_cast<double>(B) * C));
  }
}

template <class T>
void delta_grad_impl(const MorphLayerBuffers& L, const Tensor& dy, const Tensor& delta, Tensor& g,
                     bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, dy, "morph_rows_delta_grad", "dy");
  morph_detail::check_activations(L, delta, "morph_rows_delta_grad", "delta");
  morph_detail::check_activations(L, g, "morph_rows_delta_grad", "g");
  KASMINA_CHECK(delta.dim(0) == B && g.dim(0) == B, "morph_rows_delta_grad: batch sizes differ");
  const morph::SeedStateView st = morph_detail::state_view(L);
  const bool task =
      L.training_objective == static_cast<int32_t>(morph::TrainingObjective::task_gradient);
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const T iso_scale = T(2) / (static_cast<T>(B) * static_cast<T>(C));
  const T *dyp = dy.data<T>(), *d = delta.data<T>();
  T* gp = g.data<T>();
  for (int32_t s = 0; s < L.seeds; ++s) {
    const GemmSeedRole r = gemm_seed_role(st, L.gemm_kinds, kRow, s, nullptr, false, param_grads);
    double change = 0.0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = int64_t{s} * C; c < int64_t{s + 1} * C; ++c) {
        const T v = d[b * H + c], u = dyp[b * H + c];
        gp[b * H + c] = gemm_delta_grad<T>(r, task, iso_scale, u, v);
        change += static_cast<double>(v) * u;
      }
    if (r.isolated && task)
      L.step_stats.data<float>()[s * kMorphStepStats + 1] = static_cast<float>(change);
  }
}

template <class T>
void scatter_impl(const MorphLayerBuffers& L, const Tensor& jt, Tensor* dx, const MorphRowParams& d,
                  bool param_grads) {
  const int64_t B = morph_detail::check_activations(L, jt, "morph_rows_scatter", "jt");
  const morph::SeedStateView st = morph_detail::state_view(L);
  bool any_blended = false;
  for (int32_t s = 0; s < L.seeds; ++s)
    any_blended |= gemm_seed_role(st, L.gemm_kinds, kRow, s, nullptr, false, param_grads).blended;
  if (dx && any_blended) {
    morph_detail::check_activations(L, *dx, "morph_rows_scatter", "dx");
    KASMINA_CHECK(dx->dim(0) == B, "morph_rows_scatter: batch sizes differ");
    T* dxp = dx->data<T>();
    const T* j = jt.data<T>();
    for (int64_t i = 0; i < dx->numel(); ++i) dxp[i] += j[i];
  }
  if (!param_grads) return;
  check_stacks(L, d, false, "morph_rows_scatter");
  const morph::PoolView<T> pool = morph_detail::pool_view<T>(L);
  const int32_t n = morph::RowMlp::param_count(L.shape);
  for (int32_t s = 0; s < L.seeds; ++s) {
    const GemmSeedRole r = gemm_seed_role(st, L.gemm_kinds, kRow, s, nullptr, false, true);
    if (!r.on) continue;
    double sq = 0.0;
    if (r.trains) {
      T* dp = pool.at(st.slot[s], PoolRegion::grad);
      for (int32_t i = 0; i < pool.region; ++i) {
        T v = T(0);
        if (i < n) {
          const RowParamAt at = row_param_at(L.shape, L.seeds, s, i);
          v = stack_ptr<T>(d, at.stack)[at.at];
        }
        dp[i] = v;
        sq += static_cast<double>(v) * v;
      }
    }
    L.grad_norm.data<float>()[s] = static_cast<float>(std::sqrt(sq));
  }
}

}  // namespace

void morph_rows_gather(const MorphLayerBuffers& L, MorphRowParams& p) {
  if (L.pool.dtype() == DType::f64) return gather_impl<double>(L, p);
  gather_impl<float>(L, p);
}

void morph_rows_blend(const MorphLayerBuffers& L, const Tensor& x, const Tensor& delta, Tensor& out,
                      const MorphForwardOptions& opt) {
  if (x.dtype() == DType::f64) return blend_impl<double>(L, x, delta, out, opt);
  blend_impl<float>(L, x, delta, out, opt);
}

void morph_rows_delta_grad(const MorphLayerBuffers& L, const Tensor& dy, const Tensor& delta,
                           Tensor& g, bool param_grads) {
  if (dy.dtype() == DType::f64) return delta_grad_impl<double>(L, dy, delta, g, param_grads);
  delta_grad_impl<float>(L, dy, delta, g, param_grads);
}

void morph_rows_scatter(const MorphLayerBuffers& L, const Tensor& jt, Tensor* dx,
                        const MorphRowParams& d, bool param_grads) {
  if (jt.dtype() == DType::f64) return scatter_impl<double>(L, jt, dx, d, param_grads);
  scatter_impl<float>(L, jt, dx, d, param_grads);
}

}  // namespace kasmina::ops::cpu
