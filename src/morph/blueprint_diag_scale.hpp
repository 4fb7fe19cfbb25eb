// Built-in blueprint diag_scale: f(x) = x * (1 + s) + t (elementwise), so delta = x * s + t.
// Parameters (packed in this order): s[C] t[C]. Init: s = 0, t = 0 (the identity, delta = 0
// exactly; weight decay pulls it back towards the identity). No hidden factors.
#pragma once
#include "morph/blueprint_layout.hpp"

namespace kasmina::morph {

struct DiagScale {
  static constexpr BlueprintKind kind = BlueprintKind::diag_scale;
  static constexpr bool affine = true;  // x (1 + s) + t

  static KASMINA_HD int32_t param_count(const BlueprintShape& sh) { return 2 * sh.chunk; }
  static KASMINA_HD int32_t hidden_factor_count(const BlueprintShape&) { return 0; }

  static KASMINA_HD float init(const BlueprintShape& sh, int32_t i, float) {
    (void)sh;
    (void)i;
    return 0.0f;
  }

  // x s + t | - | g s | ds (g x, +), dt (+).
  static BlueprintFlops flops(const BlueprintShape& sh) {
    const int64_t C = sh.chunk;
    return {2 * C, 0, 2 * C, 3 * C};
  }

  static KASMINA_HD int32_t grad_blocks(const BlueprintShape& sh, GradBlock* blocks) {
    const int32_t C = sh.chunk, X = 1, G = 1 + C;
    blocks[0] = {G, C, X, C, true};   // s[c]: g_c x_c
    blocks[1] = {G, C, 0, 1, false};  // t[c]: g_c
    return 2;
  }

  template <int CMAX, class T>
  static KASMINA_HD void delta(const BlueprintShape& sh, const T* p, const T* x, T* delta) {
    const int32_t C = sh.chunk;
    const T* s = p;
    const T* t = p + C;
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) delta[c] = x[c] * s[c] + t[c];
  }

  template <int CMAX, class T>
  static KASMINA_HD void backward(const BlueprintShape& sh, const T* p, const T*, const T* g, T* dx,
                                  T*) {
    const int32_t C = sh.chunk;
    const T* s = p;
    if (dx) {
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) dx[c] += g[c] * s[c];
    }
  }
};

}  // namespace kasmina::morph
