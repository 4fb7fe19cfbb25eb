// CPU twin of morph_forward: the reference the CUDA kernel is compared against. Activations of
// element type E (float, double, or bf16); the blueprint and the blend computed in T (the pool's
// type: float for bf16 activations, whose values are widened exactly and whose blend is rounded
// to bf16 once on the store, as the CUDA kernel does).
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/morph/blueprint_rows.hpp"
#include "ops/morph/element_io.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cpu {

namespace {

using namespace kasmina::morph;

template <class E, class T>
void forward_impl(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                  const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_forward", "x", true);
  KASMINA_CHECK(out.shape() == x.shape() && out.dtype() == x.dtype(),
                "morph_forward: out shape/dtype differs from x");
  if (opt.in_place) {
    KASMINA_CHECK(out.raw() == x.raw(), "morph_forward: in place, out must be x");
    morph_detail::check_saved(L, x, B, "morph_forward");
  } else {
    KASMINA_CHECK(out.raw() != x.raw(), "morph_forward: out may not alias x");
  }
  const SeedStateView st = morph_detail::state_view(L);
  const PoolView<T> pool = morph_detail::pool_view<T>(L);
  const int32_t C = L.shape.chunk;
  const int64_t H = morph_detail::morph_width(L);
  const E* xp = x.data<E>();
  E* op = out.data<E>();
  const uint8_t* mask = L.eval_zero.data<uint8_t>();
  float* step_stats = L.step_stats.data<float>();
  double* tel = L.telemetry.data<double>();
  const double n = static_cast<double>(B) * C;
  T xbuf[kMaxChunk], delta[kMaxChunk];

  for (int32_t s = 0; s < L.seeds; ++s) {
    const int32_t stage = morph_detail::fused_stage(L, st, s);
    const float alpha = st.alpha[s];
    const bool blended = blend_applies(stage, alpha) && !(opt.use_eval_mask && mask[s] != 0);
    const bool isolated = opt.collect_stats && stage_trains_isolated(stage);
    const T* params = st.slot[s] >= 0 ? pool.at(st.slot[s], PoolRegion::params) : nullptr;
    const BlueprintDescriptor* bp =
        blended || isolated ? morph_rows::row_blueprint(st.blueprint[s]) : nullptr;
    double sum = 0.0, sumsq = 0.0, dead = 0.0, maxabs = 0.0, iso = 0.0;
    for (int64_t b = 0; b < B; ++b) {
      const E* xe = xp + b * H + static_cast<int64_t>(s) * C;
      E* orow = op + b * H + static_cast<int64_t>(s) * C;
      if (opt.in_place && blended) {  // the input rows first (the blend overwrites them)
        E* keep = L.saved.data<E>() + (st.slot[s] * L.saved_rows + b) * C;
        std::copy(xe, xe + C, keep);
        xe = keep;
      }
      const T* xr = widen_row<T>(xe, C, xbuf);
      if (opt.collect_stats) {
        for (int32_t c = 0; c < C; ++c) {
          const double v = static_cast<double>(xr[c]);
          sum += v;
          sumsq += v * v;
          dead += std::fabs(v) < opt.dead_eps ? 1.0 : 0.0;
          maxabs = std::max(maxabs, std::fabs(v));
        }
      }
      if (blended || isolated) morph_rows::delta<T>(bp, L.shape, params, xr, delta);
      if (blended) {
        for (int32_t c = 0; c < C; ++c)
          orow[c] = narrow<E>(xr[c] + static_cast<T>(alpha) * delta[c]);
      } else if (!opt.in_place) {
        for (int32_t c = 0; c < C; ++c) orow[c] = xe[c];
      }
      if (isolated) {
        for (int32_t c = 0; c < C; ++c) iso += static_cast<double>(delta[c]) * delta[c];
      }
    }
    if (opt.collect_stats) {
      step_stats[s * kMorphStepStats + 0] = static_cast<float>(sumsq / n);
      step_stats[s * kMorphStepStats + 1] = static_cast<float>(iso / n);
      double* t = tel + s * kMorphTelemetryStats;
      t[0] += n;
      t[1] += sum;
      t[2] += sumsq;
      t[3] += dead;
      t[4] = std::max(t[4], maxabs);
    }
  }
}

}  // namespace

void morph_forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                   const MorphForwardOptions& opt) {
  if (x.dtype() == DType::f64) return forward_impl<double, double>(L, x, out, opt);
  if (x.dtype() == DType::bf16) return forward_impl<bf16, float>(L, x, out, opt);
  x.check_dtype(DType::f32);
  forward_impl<float, float>(L, x, out, opt);
}

}  // namespace kasmina::ops::cpu
