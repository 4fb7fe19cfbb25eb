// The built-in blueprints' kind table: dispatch by kind id (the value a seed's `blueprint` field
// holds) to the three built-ins (blueprint_residual_mlp.hpp, blueprint_low_rank.hpp,
// blueprint_diag_scale.hpp). This is the device side of the blueprint seam: the fused kernels
// call these functions, so a built-in is compiled into them; on the host every blueprint,
// built-in or registered at run time, is a BlueprintDescriptor (blueprint_registry.hpp) whose
// functions are, for the built-ins, these same ones. A kind the table does not know (a blueprint
// compiled at run time) has no parameters, delta 0 and no gradient here: the module its
// descriptor names computes it (src/morph/README.md, "The blueprint seam"). The built-in GEMM-path
// blueprint row_mlp has its size and initial values here (the lifecycle kernel initialises its
// slots) but no row math: the GEMM path computes it.
//
//   - blueprint_param_count(kind, shape): parameters for chunk width C,
//   - blueprint_init_value(...): deterministic initial value of parameter i,
//   - blueprint_delta<CMAX>(...): delta(x) = f(x) - x for one row of the chunk,
//   - blueprint_backward<CMAX>(...): given g = dL/d delta for one row, accumulates J_x^T g into
//     dx and writes the row's gradient factors F (blueprint_layout.hpp),
//   - blueprint_factor_count / blueprint_grad_blocks / blueprint_grad_term: the parameter
//     gradient as a sum over rows of products of two factors each.
// The blend is out = (1 - alpha) x + alpha f(x) = x + alpha * delta(x).
// All functions are templated on the element type (float on CUDA, float/double on the CPU)
// and on CMAX, a compile-time bound of C, so that kernels keep a row in registers.
#pragma once
#include <cstdint>

#include "morph/blueprint_diag_scale.hpp"
#include "morph/blueprint_layout.hpp"
#include "morph/blueprint_low_rank.hpp"
#include "morph/blueprint_residual_mlp.hpp"
#include "morph/blueprint_row_mlp.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::morph {

const char* blueprint_name(BlueprintKind k);
// Parses a registered blueprint's name ("residual_mlp", "low_rank", "diag_scale", ...); false
// when unknown.
bool parse_blueprint(const char* name, BlueprintKind* out);

KASMINA_HD int32_t blueprint_param_count(int32_t kind, const BlueprintShape& sh) {
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return ResidualMlp::param_count(sh);
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return LowRank::param_count(sh);
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      return DiagScale::param_count(sh);
    case kRowMlpKind:
      return RowMlp::param_count(sh);
    default:
      return 0;
  }
}

// Initial value of parameter i of a blueprint grown by seed `seed` of layer `layer` in a run
// with seed `run_seed`: a pure function, identical on every device.
KASMINA_HD float blueprint_init_value(int32_t kind, const BlueprintShape& sh, int32_t i,
                                      uint64_t run_seed, int32_t layer, int32_t seed) {
  const float u = init_uniform(i, run_seed, layer, seed);
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return ResidualMlp::init(sh, i, u);
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return LowRank::init(sh, i, u);
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      return DiagScale::init(sh, i, u);
    case kRowMlpKind:
      return RowMlp::init(sh, i, u);
    default:
      return 0.0f;
  }
}

// delta[c] = f(x)[c] - x[c] for c < C (one row).
template <int CMAX, class T>
KASMINA_HD void blueprint_delta(int32_t kind, const BlueprintShape& sh, const T* p, const T* x,
                                T* delta) {
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return ResidualMlp::delta<CMAX, T>(sh, p, x, delta);
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return LowRank::delta<CMAX, T>(sh, p, x, delta);
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      return DiagScale::delta<CMAX, T>(sh, p, x, delta);
    default:
      KASMINA_MORPH_UNROLL
      for (int c = 0; c < CMAX; ++c)
        if (c < sh.chunk) delta[c] = T(0);
      return;
  }
}

// Factors per row (blueprint_layout.hpp).
KASMINA_HD int32_t blueprint_factor_count(int32_t kind, const BlueprintShape& sh) {
  const int32_t base = 1 + 2 * sh.chunk;
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return base + ResidualMlp::hidden_factor_count(sh);
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return base + LowRank::hidden_factor_count(sh);
    default:
      return base;
  }
}

// Fills blocks (kMaxGradBlocks entries) and returns their count; the sizes add up to
// blueprint_param_count.
KASMINA_HD int32_t blueprint_grad_blocks(int32_t kind, const BlueprintShape& sh,
                                         GradBlock* blocks) {
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return ResidualMlp::grad_blocks(sh, blocks);
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return LowRank::grad_blocks(sh, blocks);
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      return DiagScale::grad_blocks(sh, blocks);
    default:
      return 0;
  }
}

// The factor pair of parameter i (0 <= i < blueprint_param_count).
KASMINA_HD GradTerm blueprint_grad_term(int32_t kind, const BlueprintShape& sh, int32_t i) {
  GradBlock blocks[kMaxGradBlocks] = {};
  const int32_t n = blueprint_grad_blocks(kind, sh, blocks);
  return grad_term_of(blocks, n, i);
}

// Backward of delta for one row with upstream gradient g = dL/d delta:
//   dx[c] += (J_x^T g)[c]   (when dx is not null)
//   F = the row's gradient factors (when F is not null; see blueprint_layout.hpp).
template <int CMAX, class T>
KASMINA_HD void blueprint_backward(int32_t kind, const BlueprintShape& sh, const T* p, const T* x,
                                   const T* g, T* dx, T* F) {
  T* hid = write_row_factors<CMAX, T>(sh, x, g, F);
  switch (kind) {
    case static_cast<int32_t>(BlueprintKind::residual_mlp):
      return ResidualMlp::backward<CMAX, T>(sh, p, x, g, dx, hid);
    case static_cast<int32_t>(BlueprintKind::low_rank):
      return LowRank::backward<CMAX, T>(sh, p, x, g, dx, hid);
    case static_cast<int32_t>(BlueprintKind::diag_scale):
      return DiagScale::backward<CMAX, T>(sh, p, x, g, dx, hid);
    default:
      return;
  }
}

}  // namespace kasmina::morph
