// What every blueprint shares, whoever computes it (the fused kernels, the CPU twin, a GEMM path
// or a compiled module): the shape, the deterministic initial values, and the layout of the
// per-row gradient factors from which its parameter gradient is a sum of products.
//
// Gradient factors. For one row the backward writes the factor vector F:
//   F[0] = 1, F[1..C] = x, F[1+C..1+2C) = g = dL/d delta, then the blueprint's hidden values and
//   their gradients (residual_mlp: gelu(pre)[h], d pre[h]; low_rank: u = A x [r], du = B^T g [r]),
// and the gradient of parameter i is
//   dL/dp[i] = sum over rows of F[t.a] * F[t.b],  t = the factor pair of parameter i,
// the parameters forming blocks of outer (or diagonal) products (GradBlock). So a kernel reduces
// any blueprint's parameter gradient as a small product over its rows' factors (biases pair a
// factor with F[0] = 1; diag_scale pairs g_c with x_c).
#pragma once
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

// Factors of one row: 1 + 2C + the blueprint's hidden factors (at most 2 * kMaxHidden).
inline constexpr int32_t kMaxFactors = 1 + 2 * kMaxChunk + 2 * kMaxHidden;

// The parameters of a blueprint as consecutive blocks; the gradient of block k's parameter
// (ja, jb) (row-major, na x nb) is the sum over rows of F[a0 + ja] * F[b0 + jb]; a diagonal
// block has na = nb parameters (ja = jb).
struct GradBlock {
  int32_t a0, na, b0, nb;
  bool diag;
  KASMINA_HD int32_t size() const { return diag ? na : na * nb; }
};
inline constexpr int32_t kMaxGradBlocks = 4;

// Analytic FLOPs of one row of a blueprint (2 per multiply-add, 1 per elementwise operation;
// recomputation inside a kernel is not counted): the forward delta(x); the backward's hidden
// gradients (needed by both the input and the parameter gradient), its input gradient J^T g,
// and its parameter gradient. Training-FLOP counts (morph/seed_flops.hpp) combine them by stage.
struct BlueprintFlops {
  int64_t forward = 0;
  int64_t backward_hidden = 0;
  int64_t backward_input = 0;
  int64_t backward_params = 0;
};

struct GradTerm {
  int32_t a, b;  // factor indices
};

// The factor pair of parameter i of blocks[0..n). A walk over all kMaxGradBlocks with no early
// exit, unrolled, so that a kernel keeps the blocks in registers (with a loop to n and a return
// from it they went to local memory: the backward seed kernel's stack).
KASMINA_HD GradTerm grad_term_of(const GradBlock* blocks, int32_t n, int32_t i) {
  GradTerm t{0, 0};
  bool found = false;
  KASMINA_MORPH_UNROLL
  for (int32_t k = 0; k < kMaxGradBlocks; ++k) {
    if (k < n && !found) {
      const GradBlock& b = blocks[k];
      if (i < b.size()) {
        t = b.diag ? GradTerm{b.a0 + i, b.b0 + i} : GradTerm{b.a0 + i / b.nb, b.b0 + i % b.nb};
        found = true;
      } else {
        i -= b.size();
      }
    }
  }
  return t;
}

// dp[i] += dL/dp[i] of one row from its factors F (the CPU twins' per-row accumulation).
template <class T>
KASMINA_HD void add_grad_of(const GradBlock* blocks, int32_t n, const T* F, T* dp) {
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

// The row's common factors (1, x, g) written to F; returns where the blueprint's hidden factors
// start (null when F is null).
template <int CMAX, class T>
KASMINA_HD T* write_row_factors(const BlueprintShape& sh, const T* x, const T* g, T* F) {
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
  return F ? F + 1 + 2 * C : nullptr;
}

// The uniform value in [-1, 1) behind parameter i of a blueprint grown by seed `seed` of layer
// `layer` in a run with seed `run_seed`: a pure function, identical on every device. A blueprint
// maps it to its initial value (scaled, or ignored for constants).
KASMINA_HD float init_uniform(int32_t i, uint64_t run_seed, int32_t layer, int32_t seed) {
  const Philox4 r = philox4x32(
      static_cast<uint32_t>(i), static_cast<uint32_t>(seed), static_cast<uint32_t>(layer),
      0x6d6f7270u, static_cast<uint32_t>(run_seed), static_cast<uint32_t>(run_seed >> 32));
  return 2.0f * philox_uniform(r.v[0]) - 1.0f;  // [-1, 1)
}

}  // namespace kasmina::morph
