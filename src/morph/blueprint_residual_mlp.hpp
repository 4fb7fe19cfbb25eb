// Built-in blueprint residual_mlp: f(x) = x + W2 gelu(W1 x + b1) + b2, hidden width h.
// Parameters (packed in this order, row-major): W1[h][C] b1[h] W2[C][h] b2[C].
// Init: W1 ~ U(+-1/sqrt(C)), W2 = 0, biases 0: delta = 0 until the blueprint learns, so a
// grafted seed preserves the host's function at any alpha (the first step's gradient reaches W2,
// g a^T, and through it W1).
// Hidden factors: gelu(pre)[h], d pre[h] (blueprint_layout.hpp).
#pragma once
#include <cmath>

#include "core/gelu.hpp"
#include "morph/blueprint_layout.hpp"

namespace kasmina::morph {

struct ResidualMlp {
  static constexpr BlueprintKind kind = BlueprintKind::residual_mlp;
  static constexpr bool affine = false;  // the GELU

  static KASMINA_HD int32_t param_count(const BlueprintShape& sh) {
    return 2 * sh.hidden * sh.chunk + sh.hidden + sh.chunk;
  }
  static KASMINA_HD int32_t hidden_factor_count(const BlueprintShape& sh) { return 2 * sh.hidden; }

  // Initial value of parameter i from its uniform draw u in [-1, 1).
  static KASMINA_HD float init(const BlueprintShape& sh, int32_t i, float u) {
    const int32_t C = sh.chunk;
    if (i < sh.hidden * C) return u / sqrtf(static_cast<float>(C));  // W1
    return 0.0f;                                                     // b1, W2, b2: zero
  }

  // W1 x, + b1, gelu, W2 a, + b2 | W2^T g, gelu', * | W1^T dpre | dW1, db1, dW2, db2.
  static BlueprintFlops flops(const BlueprintShape& sh) {
    const int64_t C = sh.chunk, h = sh.hidden;
    return {4 * h * C + h * (1 + kGeluForwardFlops) + C, 2 * C * h + h * (1 + kGeluBackwardFlops),
            2 * h * C, 4 * h * C + h + C};
  }

  static KASMINA_HD int32_t grad_blocks(const BlueprintShape& sh, GradBlock* blocks) {
    const int32_t C = sh.chunk, X = 1, G = 1 + C, H = 1 + 2 * C;
    const int32_t h = sh.hidden, A = H, D = H + h;
    blocks[0] = {D, h, X, C, false};  // W1[j][c]: dpre_j x_c
    blocks[1] = {D, h, 0, 1, false};  // b1[j]: dpre_j
    blocks[2] = {G, C, A, h, false};  // W2[c][j]: g_c a_j
    blocks[3] = {G, C, 0, 1, false};  // b2[c]: g_c
    return 4;
  }

  // delta[c] = f(x)[c] - x[c] for c < C (one row).
  template <int CMAX, class T>
  static KASMINA_HD void delta(const BlueprintShape& sh, const T* p, const T* x, T* delta) {
    const int32_t C = sh.chunk;
    const int32_t h = sh.hidden;
    const T* W1 = p;
    const T* b1 = W1 + h * C;
    const T* W2 = b1 + h;
    const T* b2 = W2 + C * h;
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) delta[c] = b2[c];
    KASMINA_MORPH_UNROLL4
    for (int j = 0; j < h; ++j) {
      T pre = b1[j];
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) pre += W1[j * C + c] * x[c];
      const T a = gelu<T>(pre, nullptr);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) delta[c] += W2[c * h + j] * a;
    }
  }

  // Backward of delta for one row with g = dL/d delta: dx += J_x^T g (dx not null), the hidden
  // factors into hid (not null).
  template <int CMAX, class T>
  static KASMINA_HD void backward(const BlueprintShape& sh, const T* p, const T* x, const T* g,
                                  T* dx, T* hid) {
    const int32_t C = sh.chunk;
    const int32_t h = sh.hidden;
    const T* W1 = p;
    const T* b1 = W1 + h * C;
    const T* W2 = b1 + h;
    for (int j = 0; j < h; ++j) {
      T pre = b1[j];
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) pre += W1[j * C + c] * x[c];
      T dgelu;
      const T a = gelu<T>(pre, &dgelu);
      T da = T(0);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) da += W2[c * h + j] * g[c];
      const T dpre = da * dgelu;
      if (dx) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) dx[c] += W1[j * C + c] * dpre;
      }
      if (hid) {
        hid[j] = a;
        hid[h + j] = dpre;
      }
    }
  }
};

}  // namespace kasmina::morph
