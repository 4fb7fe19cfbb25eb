// Grafting strategies: how a seed's alpha ramps 0 -> 1 during GRAFTING. Each strategy is a pair
// of pure functions of a GraftingContext, evaluated per seed inside the lifecycle step (the
// same code on CPU and CUDA):
//   should_pause(ctx)  -> true holds alpha where it is for this step
//   next_alpha(ctx)    -> alpha after one unpaused step
// With N = ramp_steps and k = unpaused steps already taken (SeedField::ramp_steps):
//   fixed_ramp          next = min(1, (k+1)/N); never pauses.
//   performance_linked  next = min(1, alpha + (1/N) * clamp(1 + gain*improvement, min, max));
//                       pauses while improvement < -pause_below (the host reports the held-out
//                       loss improvement with a set_improvement command).
//   drift_controlled    next = min(1, (k+1)/N); pauses while drift EMA > drift_threshold.
//   grad_norm_gated     next = min(1, (k+1)/N); pauses unless lo <= grad-norm EMA <= hi (an
//                       unmeasured EMA, -1, counts as outside). The blueprint gradient
//                       includes alpha, so it is 0 at alpha 0: keep lo at 0 to let the ramp start.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/hd.hpp"
#include "morph/morph_config.hpp"

namespace kasmina::morph {

struct GraftingContext {
  float alpha = 0.0f;
  int32_t ramp_steps = 0;  // unpaused steps taken so far
  float drift_ema = 0.0f;
  float grad_norm_ema = -1.0f;
  float improvement = 0.0f;
};

const char* grafting_name(GraftingKind k);
bool parse_grafting(const char* name, GraftingKind* out);
// Every strategy name in enum order, and joined ("fixed_ramp, performance_linked, ...") for
// "(allowed: ...)" in messages.
std::vector<std::string> grafting_name_list();
std::string grafting_names_allowed();

KASMINA_HD bool grafting_should_pause(int32_t kind, const GraftingParams& p,
                                      const GraftingContext& c) {
  switch (kind) {
    case static_cast<int32_t>(GraftingKind::performance_linked):
      return c.improvement < -p.performance_pause_below;
    case static_cast<int32_t>(GraftingKind::drift_controlled):
      return c.drift_ema > p.drift_threshold;
    case static_cast<int32_t>(GraftingKind::grad_norm_gated):
      return !(c.grad_norm_ema >= p.grad_norm_lo && c.grad_norm_ema <= p.grad_norm_hi);
    case static_cast<int32_t>(GraftingKind::fixed_ramp):
    default:
      return false;
  }
}

KASMINA_HD float grafting_next_alpha(int32_t kind, const GraftingParams& p,
                                     const GraftingContext& c) {
  const int32_t n = p.ramp_steps > 0 ? p.ramp_steps : 1;
  float next;
  if (kind == static_cast<int32_t>(GraftingKind::performance_linked)) {
    float scale = 1.0f + p.performance_gain * c.improvement;
    scale = scale < p.performance_min_scale ? p.performance_min_scale : scale;
    scale = scale > p.performance_max_scale ? p.performance_max_scale : scale;
    next = c.alpha + scale / static_cast<float>(n);
  } else {
    next = static_cast<float>(c.ramp_steps + 1) / static_cast<float>(n);
  }
  return next > 1.0f ? 1.0f : next;
}

}  // namespace kasmina::morph
