// AdamW for blueprint parameters (PyTorch semantics, decoupled weight decay), one element at a
// time, shared by the CPU twin and the CUDA kernel of morph_optimizer_step. The element update
// is core/adamw.hpp's (the model optimizer's too); the bias corrections 1 - b^t are computed here
// in float (powf), the model optimizer's in double.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/adamw.hpp"
#include "core/hd.hpp"
#include "morph/blueprint.hpp"
#include "morph/morph_config.hpp"
#include "morph/seed_state.hpp"
#include "morph/stage.hpp"

namespace kasmina::morph {

struct AdamWStepConstants {
  float bias1 = 1.0f;  // 1 - b1^t
  float bias2 = 1.0f;  // 1 - b2^t
  float lr = 0.0f;     // lr, times the warm-up factor min(1, t / warmup_steps)
};

KASMINA_HD AdamWStepConstants adamw_constants(const BlueprintOptimizer& h, int32_t t) {
  AdamWStepConstants k;
  k.bias1 = 1.0f - powf(h.beta1, static_cast<float>(t));
  k.bias2 = 1.0f - powf(h.beta2, static_cast<float>(t));
  k.lr = h.warmup_steps > 0 && t < h.warmup_steps
             ? h.lr * (static_cast<float>(t) / static_cast<float>(h.warmup_steps))
             : h.lr;
  return k;
}

// One element's step: core/adamw.hpp's adamw_update (shared with the model optimizer) with the
// blueprint optimizer's coefficients, each formed in float and rounded to T.
template <class T>
KASMINA_HD void adamw_update(const BlueprintOptimizer& h, const AdamWStepConstants& k, T& p, T& m,
                             T& v, T g) {
  AdamWCoefficients<T> c;
  c.lr = static_cast<T>(k.lr);
  c.lr_wd = static_cast<T>(k.lr * h.weight_decay);
  c.beta1 = static_cast<T>(h.beta1);
  c.one_minus_beta1 = static_cast<T>(1.0f - h.beta1);
  c.beta2 = static_cast<T>(h.beta2);
  c.one_minus_beta2 = static_cast<T>(1.0f - h.beta2);
  c.bias1 = static_cast<T>(k.bias1);
  c.bias2 = static_cast<T>(k.bias2);
  c.eps = static_cast<T>(h.eps);
  kasmina::adamw_update(c, p, g, m, v);
}

// A seed's blueprint is stepped when its stage trains and its last gradient was finite.
KASMINA_HD bool seed_takes_optimizer_step(const SeedStateView& st, int32_t s,
                                          const float* grad_norm) {
  return stage_trains(st.stage[s]) && st.slot[s] >= 0 && finite_value(grad_norm[s]);
}

// Parameters the optimizer updates in a seed's slot: a built-in blueprint's own count (the
// kind table); for a kind the fused kernels do not contain (registered at run time), the whole
// parameter region of the slot (`region`): its parameters past the blueprint's count are zero
// with zero gradients and moments, which AdamW (decay included) leaves at zero, so every device
// updates the same values without reading the host-side registry.
KASMINA_HD int32_t optimizer_param_count(int32_t kind, const BlueprintShape& sh, int32_t region) {
  return kind >= 0 && kind < kBlueprintKindCount ? blueprint_param_count(kind, sh) : region;
}

}  // namespace kasmina::morph
