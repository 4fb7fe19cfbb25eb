// Blueprints: small C -> C modules a seed grows into. The interface is deliberately narrow so
// that a later blueprint compiler can generate the same functions for new blueprints:
//   - blueprint_param_count(kind, shape): parameters for chunk width C,
//   - blueprint_init_value(...): deterministic initial value of parameter i,
//   - blueprint_delta(...): delta(x) = f(x) - x for one row of the chunk,
//   - blueprint_backward(...): given g = dL/d delta for one row, accumulates J_x^T g into dx and
//     writes the row's gradient factors F,
//   - blueprint_factor_count / blueprint_grad_blocks: the parameter gradient as a sum over rows
//     of products of two factors each.
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

// Unrolls the fixed-bound chunk loops in kernels (so a row stays in registers), and the forward's
// hidden loops by 4 (their units are independent until they add into the output, so the
// unrolled dot products and GELUs interleave instead of running one after another; the
// backward's would need more registers than its kernel can have beside the copy).
#if defined(__CUDA_ARCH__)
#define KASMINA_MORPH_UNROLL _Pragma("unroll")
#define KASMINA_MORPH_UNROLL4 _Pragma("unroll 4")
#else
#define KASMINA_MORPH_UNROLL
#define KASMINA_MORPH_UNROLL4
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
      KASMINA_MORPH_UNROLL4
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

// Parameter gradients are sums over rows of products of per-row factors. For one row the
// backward writes the factor vector F (blueprint_factor_count floats):
//   F[0] = 1, F[1..C] = x, F[1+C..1+2C) = g, then the blueprint's hidden values and their
//   gradients (residual_mlp: gelu(pre)[h], d pre[h]; low_rank: u = A x [r], du = B^T g [r]),
// and the gradient of parameter i is
//   dL/dp[i] = sum over rows of F[t.a] * F[t.b],  t = blueprint_grad_term(kind, shape, i),
// the parameters forming blocks of outer (or diagonal) products (blueprint_grad_blocks).
// So a kernel reduces any blueprint's parameter gradient as a small product over its rows'
// factors (biases pair a factor with F[0] = 1; diag_scale pairs g_c with x_c).
inline constexpr int32_t kMaxFactors = 1 + 2 * kMaxChunk + 2 * kMaxHidden;

KASMINA_HD int32_t blueprint_factor_count(int32_t kind, const BlueprintShape& sh) {
  const int32_t base = 1 + 2 * sh.chunk;
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return base + 2 * sh.hidden;
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return base + 2 * sh.rank;
    default:
      return base;
  }
}

// The parameters of a blueprint as consecutive blocks; the gradient of block k's parameter
// (ja, jb) (row-major, na x nb) is the sum over rows of F[a0 + ja] * F[b0 + jb]; a diagonal
// block has na = nb parameters (ja = jb).
struct GradBlock {
  int32_t a0, na, b0, nb;
  bool diag;
  KASMINA_HD int32_t size() const { return diag ? na : na * nb; }
};
inline constexpr int32_t kMaxGradBlocks = 4;

// Fills blocks (kMaxGradBlocks entries) and returns their count; the sizes add up to
// blueprint_param_count.
KASMINA_HD int32_t blueprint_grad_blocks(int32_t kind, const BlueprintShape& sh,
                                         GradBlock* blocks) {
  const int32_t C = sh.chunk, X = 1, G = 1 + C, H = 1 + 2 * C;
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp): {
      const int32_t h = sh.hidden, A = H, D = H + h;
      blocks[0] = {D, h, X, C, false};  // W1[j][c]: dpre_j x_c
      blocks[1] = {D, h, 0, 1, false};  // b1[j]: dpre_j
      blocks[2] = {G, C, A, h, false};  // W2[c][j]: g_c a_j
      blocks[3] = {G, C, 0, 1, false};  // b2[c]: g_c
      return 4;
    }
    case static_cast<int32_t>(BlueprintKind::low_rank): {
      const int32_t r = sh.rank, U = H, DU = H + r;
      blocks[0] = {DU, r, X, C, false};  // A[j][c]: du_j x_c
      blocks[1] = {G, C, U, r, false};   // B[c][j]: g_c u_j
      return 2;
    }
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      blocks[0] = {G, C, X, C, true};   // s[c]: g_c x_c
      blocks[1] = {G, C, 0, 1, false};  // t[c]: g_c
      return 2;
    default:
      return 0;
  }
}

struct GradTerm {
  int32_t a, b;  // factor indices
};

// The factor pair of parameter i (0 <= i < blueprint_param_count).
KASMINA_HD GradTerm blueprint_grad_term(int32_t kind, const BlueprintShape& sh, int32_t i) {
  GradBlock blocks[kMaxGradBlocks];
  const int32_t n = blueprint_grad_blocks(kind, sh, blocks);
  for (int32_t k = 0; k < n; ++k) {
    const GradBlock& b = blocks[k];
    if (i < b.size())
      return b.diag ? GradTerm{b.a0 + i, b.b0 + i} : GradTerm{b.a0 + i / b.nb, b.b0 + i % b.nb};
    i -= b.size();
  }
  return {0, 0};
}

// Backward of delta for one row with upstream gradient g = dL/d delta:
//   dx[c] += (J_x^T g)[c]   (when dx is not null)
//   F = the row's gradient factors (when F is not null; see above).
template <int CMAX, class T>
KASMINA_HD void blueprint_backward(int32_t kind, const BlueprintShape& sh, const T* p, const T* x,
                                   const T* g, T* dx, T* F) {
  const int32_t C = sh.chunk;
  if (F) {
    F[0] = T(1);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) {
        F[1 + c] = x[c];
        F[1 + C + c] = g[c];
      }
  }
  T* hid = F ? F + 1 + 2 * C : nullptr;
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
        if (hid) {
          hid[j] = a;
          hid[h + j] = dpre;
        }
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
        if (hid) {
          hid[j] = u;
          hid[r + j] = du;
        }
      }
      return;
    }
    case static_cast<int32_t>(BlueprintKind::diag_scale): {
      const T* s = p;
      if (dx) {
        KASMINA_MORPH_UNROLL
        for (int c = 0; c < CMAX; ++c)
          if (c < C) dx[c] += g[c] * (s[c] - T(1));
      }
      return;
    }
    default:
      return;
  }
}

// dp[i] += dL/dp[i] of one row from its factors F (the CPU twins' per-row accumulation).
template <class T>
KASMINA_HD void blueprint_add_grad(int32_t kind, const BlueprintShape& sh, const T* F, T* dp) {
  GradBlock blocks[kMaxGradBlocks];
  const int32_t n = blueprint_grad_blocks(kind, sh, blocks);
  for (int32_t k = 0; k < n; ++k) {
    const GradBlock& b = blocks[k];
    if (b.diag) {
      for (int32_t j = 0; j < b.na; ++j) dp[j] += F[b.a0 + j] * F[b.b0 + j];
    } else {
      for (int32_t ja = 0; ja < b.na; ++ja) {
        const T fa = F[b.a0 + ja];
        for (int32_t jb = 0; jb < b.nb; ++jb) dp[ja * b.nb + jb] += fa * F[b.b0 + jb];
      }
    }
    dp += b.size();
  }
}

}  // namespace kasmina::morph
