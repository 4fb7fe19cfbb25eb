// CPU twin of morph_backward. Activations of element type E (float, double, or bf16); the
// blueprint's gradients computed in T (the pool's type: float for bf16 activations, whose x and
// dy widen exactly and whose dx is rounded to bf16 once on the store, as the CUDA kernels do).
#include <algorithm>
#include <cmath>

#include "ops/morph/blueprint_rows.hpp"
#include "ops/morph/element_io.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cpu {

namespace {

using namespace kasmina::morph;

// saved: the forward ran in place (morph_backward_saved): blended chunks' input rows come from
// L.saved and go back into x at the end; dx may alias dy.
template <class E, class T>
void backward_impl(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                   bool param_grads, bool saved) {
  const char* op = saved ? "morph_backward_saved" : "morph_backward";
  const int64_t B = morph_detail::check_activations(L, x, op, "x", true);
  if (saved) morph_detail::check_saved(L, x, B, op);
  KASMINA_CHECK(dy.shape() == x.shape() && dy.dtype() == x.dtype(),
                "morph_backward: dy shape/dtype differs from x");
  if (dx) {
    KASMINA_CHECK(dx->shape() == x.shape() && dx->dtype() == x.dtype(),
                  "morph_backward: dx shape/dtype differs from x");
  }
  const SeedStateView st = morph_detail::state_view(L);
  const PoolView<T> pool = morph_detail::pool_view<T>(L);
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const E* xp = x.data<E>();
  const E* dyp = dy.data<E>();
  E* dxp = dx ? dx->data<E>() : nullptr;
  const bool alias = dxp != nullptr && static_cast<const void*>(dxp) == dy.raw();
  float* gnorm = L.grad_norm.data<float>();
  float* step_stats = L.step_stats.data<float>();
  const bool task = L.training_objective == static_cast<int32_t>(TrainingObjective::task_gradient);
  const T iso_scale = T(2) / (static_cast<T>(B) * static_cast<T>(C));
  T g[kMaxChunk], jt[kMaxChunk], delta[kMaxChunk], F[kMaxFactors], xbuf[kMaxChunk],
      dybuf[kMaxChunk];

  for (int32_t s = 0; s < L.seeds; ++s) {
    const int32_t stage = morph_detail::fused_stage(L, st, s);
    const T alpha = static_cast<T>(st.alpha[s]);
    const bool blended = blend_applies(stage, st.alpha[s]);
    const bool global_grads = param_grads && stage_trains_global(stage);
    const bool iso_grads = param_grads && stage_trains_isolated(stage);
    const int32_t slot = st.slot[s];
    const BlueprintDescriptor* bp = morph_rows::row_blueprint(st.blueprint[s]);
    const T* params = slot >= 0 ? pool.at(slot, PoolRegion::params) : nullptr;
    T* dp = (global_grads || iso_grads) ? pool.at(slot, PoolRegion::grad) : nullptr;
    if (dp) {
      for (int32_t i = 0; i < pool.region; ++i) dp[i] = T(0);
    }
    double change = 0.0;  // task_gradient: sum of <delta, dy> (the first-order loss change)
    // The seed's x rows: its chunk of x, or its saved rows (after an in-place forward).
    const bool from_saved = saved && blended;
    const E* xs = from_saved ? L.saved.data<E>() + slot * L.saved_rows * C : xp + int64_t{s} * C;
    const int64_t xstride = from_saved ? C : H;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t off = b * H + static_cast<int64_t>(s) * C;
      const T* xr = widen_row<T>(xs + b * xstride, C, xbuf);
      const T* dyr = widen_row<T>(dyp + off, C, dybuf);
      if (blended || global_grads) {
        for (int32_t c = 0; c < C; ++c) {
          g[c] = alpha * dyr[c];
          jt[c] = T(0);
        }
        morph_rows::backward<T>(bp, L.shape, params, xr, g, blended ? jt : nullptr,
                                global_grads ? F : nullptr);
        if (global_grads) morph_rows::add_grad<T>(bp, L.shape, F, dp);
      }
      if (iso_grads) {
        morph_rows::delta<T>(bp, L.shape, params, xr, delta);
        for (int32_t c = 0; c < C; ++c) {
          g[c] = task ? dyr[c] : iso_scale * delta[c];
          if (task) change += static_cast<double>(delta[c]) * dyr[c];
        }
        morph_rows::backward<T>(bp, L.shape, params, xr, g, nullptr, F);
        morph_rows::add_grad<T>(bp, L.shape, F, dp);
      }
      if (dxp) {
        E* dxr = dxp + off;
        if (blended) {
          for (int32_t c = 0; c < C; ++c) dxr[c] = narrow<E>(dyr[c] + jt[c]);
        } else if (!alias) {
          for (int32_t c = 0; c < C; ++c) dxr[c] = dyp[off + c];
        }
      }
    }
    if (from_saved) {  // x as the layers below produced it: the saved rows (xs) put back
      E* xw = static_cast<E*>(const_cast<void*>(x.raw())) + static_cast<int64_t>(s) * C;
      for (int64_t b = 0; b < B; ++b) std::copy(xs + b * C, xs + (b + 1) * C, xw + b * H);
    }
    if (iso_grads && task) step_stats[s * kMorphStepStats + 1] = static_cast<float>(change);
    if (param_grads) {
      double sq = 0.0;
      if (dp) {
        const int32_t n = morph_rows::param_count(bp, L.shape);
        for (int32_t i = 0; i < n; ++i) sq += static_cast<double>(dp[i]) * dp[i];
      }
      gnorm[s] = static_cast<float>(std::sqrt(sq));
    }
  }
}

void backward_any(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                  bool param_grads, bool saved) {
  if (x.dtype() == DType::f64)
    return backward_impl<double, double>(L, x, dy, dx, param_grads, saved);
  if (x.dtype() == DType::bf16) return backward_impl<bf16, float>(L, x, dy, dx, param_grads, saved);
  x.check_dtype(DType::f32);
  backward_impl<float, float>(L, x, dy, dx, param_grads, saved);
}

}  // namespace

void morph_backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                    bool param_grads) {
  backward_any(L, x, dy, dx, param_grads, false);
}

void morph_backward_saved(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                          bool param_grads) {
  backward_any(L, x, dy, dx, param_grads, true);
}

}  // namespace kasmina::ops::cpu
