// Blueprints: small C -> C modules a seed grows into. The interface is deliberately narrow so
// that a later blueprint compiler can generate the same functions for new blueprints:
//   - blueprint_param_count(kind, shape): parameters for chunk width C,
//   - blueprint_init_value(...): deterministic initial value of parameter i,
//   - blueprint_delta(...): delta(x) = f(x) - x for one row of the chunk,
//   - blueprint_backward(...): given g = dL/d delta for one row, accumulates J_x^T g into dx and
//     the parameter gradient into dp.
// The blend is out = (1 - alpha) x + alpha f(x) = x + alpha * delta(x).
//
// Built-ins (parameters packed in this order, row-major):
//   residual_mlp  f(x) = x + W2 gelu(W1 x + b1) + b2      W1[h][C] b1[h] W2[C][h] b2[C]
//   low_rank      f(x) = x + B (A x)                      A[r][C] B[C][r]
//   diag_scale    f(x) = x ⊙ s + t (identity at init)     s[C] t[C]
// GELU is the tanh approximation used everywhere in kasmina.
// All functions are templated on the element type (float on CUDA, float/double on the CPU)
// and on CMAX, a compile-time bound of C, so that kernels keep a row in registers.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.hpp"
#include "core/philox.hpp"
#include "morph/morph_config.hpp"

// Unrolls the fixed-bound chunk loops in kernels (so a row stays in registers).
#if defined(__CUDA_ARCH__)
#define KASMINA_MORPH_UNROLL _Pragma("unroll")
#else
#define KASMINA_MORPH_UNROLL
#endif

namespace kasmina::morph {

inline constexpr int32_t kMaxChunk = 64;   // largest chunk width C a layer accepts
inline constexpr int32_t kMaxHidden = 32;  // largest residual_mlp hidden width / low_rank rank

const char* blueprint_name(BlueprintKind k);
// Parses "residual_mlp", "low_rank", "diag_scale"; false when unknown.
bool parse_blueprint(const char* name, BlueprintKind* out);

KASMINA_HD int32_t blueprint_param_count(int32_t kind, const BlueprintShape& sh) {
  const int32_t C = sh.chunk;
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return 2 * sh.hidden * C + sh.hidden + C;
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return 2 * sh.rank * C;
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      return 2 * C;
    default:
      return 0;
  }
}

// Initial value of parameter i of a blueprint grown by seed `seed` of layer `layer` in a run
// with seed `run_seed`: a pure function, identical on every device.
KASMINA_HD float blueprint_init_value(int32_t kind, const BlueprintShape& sh, int32_t i,
                                      uint64_t run_seed, int32_t layer, int32_t seed) {
  const Philox4 r = philox4x32(
      static_cast<uint32_t>(i), static_cast<uint32_t>(seed), static_cast<uint32_t>(layer),
      0x6d6f7270u, static_cast<uint32_t>(run_seed), static_cast<uint32_t>(run_seed >> 32));
  const float u = 2.0f * philox_uniform(r.v[0]) - 1.0f;  // [-1, 1)
  const int32_t C = sh.chunk;
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp): {
      const int32_t h = sh.hidden;
      if (i < h * C) return u / sqrtf(static_cast<float>(C));                 // W1
      if (i < h * C + h) return 0.0f;                                         // b1
      if (i < 2 * h * C + h) return 0.1f * u / sqrtf(static_cast<float>(h));  // W2 (small)
      return 0.0f;                                                            // b2
    }
    case static_cast<int32_t>(BlueprintKind::low_rank): {
      if (i < sh.rank * C) return u / sqrtf(static_cast<float>(C));  // A
      return 0.1f * u / sqrtf(static_cast<float>(sh.rank));          // B (small)
    }
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      return i < C ? 1.0f : 0.0f;
    default:
      return 0.0f;
  }
}

KASMINA_HD float blueprint_tanh(float x) {
  return tanhf(x);
}
KASMINA_HD double blueprint_tanh(double x) {
  return tanh(x);
}

template <class T>
KASMINA_HD T blueprint_gelu(T x, T* derivative) {
  const T k = T(0.7978845608028654), c = T(0.044715);
  const T inner = k * (x + c * x * x * x);
  const T t = blueprint_tanh(inner);
  if (derivative) {
    *derivative = T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * c * x * x);
  }
  return T(0.5) * x * (T(1) + t);
}

// delta[c] = f(x)[c] - x[c] for c < C (one row).
template <int CMAX, class T>
KASMINA_HD void blueprint_delta(int32_t kind, const BlueprintShape& sh, const T* p, const T* x,
                                T* delta) {
  const int32_t C = sh.chunk;
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp): {
      const int32_t h = sh.hidden;
      const T* W1 = p;
      const T* b1 = W1 + h * C;
      const T* W2 = b1 + h;
      const T* b2 = W2 + C * h;
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) delta[c] = b2[c];
      for (int j = 0; j < h; ++j) {
        T pre = b1[j];
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) pre += W1[j * C + c] * x[c];
        const T a = blueprint_gelu<T>(pre, nullptr);
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) delta[c] += W2[c * h + j] * a;
      }
      return;
    }
    case static_cast<int32_t>(BlueprintKind::low_rank): {
      const int32_t r = sh.rank;
      const T* A = p;
      const T* B = A + r * C;
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) delta[c] = T(0);
      for (int j = 0; j < r; ++j) {
        T u = T(0);
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) u += A[j * C + c] * x[c];
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) delta[c] += B[c * r + j] * u;
      }
      return;
    }
    case static_cast<int32_t>(BlueprintKind::diag_scale): {
      const T* s = p;
      const T* t = p + C;
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) delta[c] = x[c] * (s[c] - T(1)) + t[c];
      return;
    }
    default:
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) delta[c] = T(0);
      return;
  }
}

// Backward of delta for one row with upstream gradient g = dL/d delta:
//   dx[c] += (J_x^T g)[c]   (when dx is not null)
//   dp[i] += dL/dp[i]       (when dp is not null)
template <int CMAX, class T>
KASMINA_HD void blueprint_backward(int32_t kind, const BlueprintShape& sh, const T* p, const T* x,
                                   const T* g, T* dx, T* dp) {
  const int32_t C = sh.chunk;
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp): {
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
        const T a = blueprint_gelu<T>(pre, &dgelu);
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
        if (dp) {
          KASMINA_MORPH_UNROLL
          for (int c = 0; c < CMAX; ++c)
            if (c < C) dp[j * C + c] += dpre * x[c];
          dp[h * C + j] += dpre;
          KASMINA_MORPH_UNROLL
          for (int c = 0; c < CMAX; ++c)
            if (c < C) dp[h * C + h + c * h + j] += g[c] * a;
        }
      }
      if (dp) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) dp[2 * h * C + h + c] += g[c];
      }
      return;
    }
    case static_cast<int32_t>(BlueprintKind::low_rank): {
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
        if (dp) {
          KASMINA_MORPH_UNROLL
          for (int c = 0; c < CMAX; ++c)
            if (c < C) {
              dp[j * C + c] += du * x[c];
              dp[r * C + c * r + j] += g[c] * u;
            }
        }
      }
      return;
    }
    case static_cast<int32_t>(BlueprintKind::diag_scale): {
      const T* s = p;
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < C) {
          if (dx) dx[c] += g[c] * (s[c] - T(1));
          if (dp) {
            dp[c] += g[c] * x[c];
            dp[C + c] += g[c];
          }
        }
      return;
    }
    default:
      return;
  }
}

}  // namespace kasmina::morph
