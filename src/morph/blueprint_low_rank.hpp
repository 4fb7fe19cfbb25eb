// Built-in blueprint low_rank: f(x) = x + B (A x), rank r.
// Parameters (packed in this order, row-major): A[r][C] B[C][r].
// Init: A ~ U(+-1/sqrt(C)), B = 0: delta = 0 until the blueprint learns (function-preserving
// graft; the first step's gradient reaches B, g u^T, and through it A).
// Hidden factors: u = A x [r], du = B^T g [r] (blueprint_layout.hpp).
#pragma once
#include <cmath>

#include "morph/blueprint_layout.hpp"

namespace kasmina::morph {

struct LowRank {
  static constexpr BlueprintKind kind = BlueprintKind::low_rank;
  static constexpr bool affine = true;  // x + B A x

  static KASMINA_HD int32_t param_count(const BlueprintShape& sh) { return 2 * sh.rank * sh.chunk; }
  static KASMINA_HD int32_t hidden_factor_count(const BlueprintShape& sh) { return 2 * sh.rank; }

  static KASMINA_HD float init(const BlueprintShape& sh, int32_t i, float u) {
    if (i < sh.rank * sh.chunk) return u / sqrtf(static_cast<float>(sh.chunk));  // A
    return 0.0f;                                                                 // B: zero
  }

  // A x, B u | B^T g | A^T du | dA, dB.
  static BlueprintFlops flops(const BlueprintShape& sh) {
    const int64_t C = sh.chunk, r = sh.rank;
    return {4 * r * C, 2 * C * r, 2 * r * C, 4 * r * C};
  }

  static KASMINA_HD int32_t grad_blocks(const BlueprintShape& sh, GradBlock* blocks) {
    const int32_t C = sh.chunk, X = 1, G = 1 + C, H = 1 + 2 * C;
    const int32_t r = sh.rank, U = H, DU = H + r;
    blocks[0] = {DU, r, X, C, false};  // A[j][c]: du_j x_c
    blocks[1] = {G, C, U, r, false};   // B[c][j]: g_c u_j
    return 2;
  }

  template <int CMAX, class T>
  static KASMINA_HD void delta(const BlueprintShape& sh, const T* p, const T* x, T* delta) {
    const int32_t C = sh.chunk;
    const int32_t r = sh.rank;
    const T* A = p;
    const T* B = A + r * C;
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) delta[c] = T(0);
    KASMINA_MORPH_UNROLL4
    for (int j = 0; j < r; ++j) {
      T u = T(0);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) u += A[j * C + c] * x[c];
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) delta[c] += B[c * r + j] * u;
    }
  }

  template <int CMAX, class T>
  static KASMINA_HD void backward(const BlueprintShape& sh, const T* p, const T* x, const T* g,
                                  T* dx, T* hid) {
    const int32_t C = sh.chunk;
    const int32_t r = sh.rank;
    const T* A = p;
    const T* B = A + r * C;
    for (int j = 0; j < r; ++j) {
      T u = T(0), du = T(0);
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) {
          u += A[j * C + c] * x[c];
          du += B[c * r + j] * g[c];
        }
      if (dx) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) dx[c] += A[j * C + c] * du;
      }
      if (hid) {
        hid[j] = u;
        hid[r + j] = du;
      }
    }
  }
};

}  // namespace kasmina::morph
