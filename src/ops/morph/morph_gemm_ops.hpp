// The elementwise ops of the GEMM path of a morphogenetic layer (morph/seed_path.hpp): around
// the linear ops' GEMMs (ops.hpp), they read seed s's stage, alpha, kind and slot on the device,
// so that the step needs no host decision and stays graph-capturable. One call handles one seed
// s (the seeds of a layer on the GEMM path are few: whole-layer or wide chunks). Its blueprint
// is residual_mlp, delta(x) = W2 gelu(W1 x + b1) + b2, computed by morph_gemm_path.hpp as
//   act = gelu(xs W1ᵀ + b1)  [B, h],   delta = act W2ᵀ + b2  [B, C]
// with xs the seed's chunk of x. CPU twins (float and double) and CUDA kernels (float) share
// the per-seed decisions below.
#pragma once
#include <cstdint>

#include "core/hd.hpp"
#include "core/tensor.hpp"
#include "morph/seed_path.hpp"
#include "morph/seed_state.hpp"
#include "morph/stage.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops {

// The parameters of residual_mlp (W1[h][C] b1[h] W2[C][h] b2[C], the pool's order) in the GEMM
// path's gathered buffer: each block starts on a 16-float (64-byte) boundary, as cuBLASLt's
// fastest kernels want.
struct GemmParamLayout {
  int64_t w1 = 0, b1 = 0, w2 = 0, b2 = 0, total = 0;
  int32_t hidden = 0, chunk = 0;
};
KASMINA_HD int64_t gemm_align16(int64_t n) {
  return (n + 15) / 16 * 16;
}
KASMINA_HD GemmParamLayout gemm_param_layout(const morph::BlueprintShape& sh) {
  GemmParamLayout p;
  p.hidden = sh.hidden;
  p.chunk = sh.chunk;
  const int64_t hc = static_cast<int64_t>(sh.hidden) * sh.chunk;
  p.w1 = 0;
  p.b1 = gemm_align16(hc);
  p.w2 = p.b1 + gemm_align16(sh.hidden);
  p.b2 = p.w2 + gemm_align16(hc);
  p.total = p.b2 + gemm_align16(sh.chunk);
  return p;
}
// Index in the gathered buffer of the pool's parameter i (0 <= i < param_count).
KASMINA_HD int64_t gemm_param_index(const GemmParamLayout& p, int64_t i) {
  const int64_t hc = static_cast<int64_t>(p.hidden) * p.chunk;
  if (i < hc) return p.w1 + i;
  i -= hc;
  if (i < p.hidden) return p.b1 + i;
  i -= p.hidden;
  if (i < hc) return p.w2 + i;
  return p.b2 + (i - hc);
}

// What the GEMM path does for seed s this step (read on the device).
struct GemmSeedRole {
  bool on = false;        // holds the caller's GEMM-path blueprint in a slot
  bool blended = false;   // forward: out = x + alpha delta; backward: dx = dy + Jᵀ g
  bool isolated = false;  // TRAINING: forward measures |delta|^2, backward its own gradient
  bool trains = false;    // backward with parameter gradients: the slot's gradient is written
  float alpha = 0.0f;
};
// kind: the blueprint the caller computes (a seed holding another kind is not `on`); mask: the
// eval mask (null: none); collect: the forward's statistics pass; param_grads: the backward's
// (the forward passes false, the backward collect = false).
KASMINA_HD GemmSeedRole gemm_seed_role(const morph::SeedStateView& st, uint32_t gemm_kinds,
                                       int32_t kind, int32_t s, const uint8_t* mask, bool collect,
                                       bool param_grads) {
  GemmSeedRole r;
  const int32_t stage = st.stage[s];
  r.alpha = st.alpha[s];
  r.on = st.blueprint[s] == kind && morph::on_gemm_path(gemm_kinds, kind) && st.slot[s] >= 0;
  const bool masked = mask != nullptr && mask[s] != 0;
  r.blended = r.on && morph::blend_applies(stage, r.alpha) && !masked;
  r.trains = r.on && param_grads && morph::stage_trains(stage);
  r.isolated = r.on && (collect || param_grads) && morph::stage_trains_isolated(stage);
  return r;
}
// dL/d delta of one element for the parameter and input gradients: the isolated objective's
// (task_gradient: dy straight through; reconstruction: 2 delta / (B C)) for a TRAINING seed,
// alpha dy for a blended or globally trained one, else 0.
template <class T>
KASMINA_HD T gemm_delta_grad(const GemmSeedRole& r, bool task, T iso_scale, T dy, T delta) {
  if (r.isolated) return task ? dy : iso_scale * delta;
  if (r.blended || r.trains) return static_cast<T>(r.alpha) * dy;
  return T(0);
}

// params [layout.total] <- the parameters of seed s's slot in gemm_param_layout (zeros when the
// seed is not on the GEMM path: its delta is then 0); xs [B, C] <- the seed's chunk of x [B, H]
// (null: not wanted, the caller reads x itself when the chunk is the whole row).
KASMINA_OP(void, morph_gemm_gather,
           (const MorphLayerBuffers& L, int32_t seed, const Tensor& x, Tensor& params, Tensor* xs),
           (L, seed, x, params, xs), L.device())

// Forward after the fused morph_forward: for a blended seed, its chunk of out = x + alpha delta
// (delta [B, C]); for a TRAINING seed while collecting, step_stats[s][1] = mean of delta^2 over
// the B*C values (the isolated loss; fixed order, f64).
KASMINA_OP(void, morph_gemm_blend,
           (const MorphLayerBuffers& L, int32_t seed, const Tensor& x, const Tensor& delta,
            Tensor& out, const MorphForwardOptions& opt),
           (L, seed, x, delta, out, opt), L.device())

// Backward, first half: g [B, C] = dL/d delta (gemm_delta_grad); for a TRAINING seed under the
// task_gradient objective with param_grads, step_stats[s][1] = sum of <delta, dy> (f64).
KASMINA_OP(void, morph_gemm_delta_grad,
           (const MorphLayerBuffers& L, int32_t seed, const Tensor& dy, const Tensor& delta,
            Tensor& g, bool param_grads),
           (L, seed, dy, delta, g, param_grads), L.device())

// Backward, second half: for a blended seed its chunk of dx = dy + jt (jt [B, C] = Jᵀ g; dx may
// be null); with param_grads, grad_norm[s] = the norm of the seed's gradient and, when it
// trains, its slot's gradient region = grads (gemm_param_layout; zero past the parameter count).
KASMINA_OP(void, morph_gemm_scatter,
           (const MorphLayerBuffers& L, int32_t seed, const Tensor& dy, const Tensor& jt,
            Tensor* dx, const Tensor& grads, bool param_grads),
           (L, seed, dy, jt, dx, grads, param_grads), L.device())

}  // namespace kasmina::ops
