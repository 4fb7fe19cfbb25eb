// The row group of a morphogenetic layer: every seed whose blueprint reads the whole row
// (row_mlp, morph/blueprint_row_mlp.hpp: delta_s(x) = W2_s gelu(W1_s x + b1_s) + b2_s, x the
// H-wide row, delta_s the C-wide chunk of seed s), computed for ALL seeds of the layer at once
// with four GEMMs in the forward and four in the backward (the linear ops: cuBLASLt on CUDA,
// OpenBLAS on CPU) instead of a dozen launches per seed:
//   W1 [S*h, H]  the seeds' first layers stacked     act = gelu(x W1ᵀ + b1)     [B, S*h]
//   W2 [H, S*h]  block diagonal: seed s's W2_s at    delta = act W2ᵀ + b2       [B, H]
//                rows s*C.., columns s*h..            (delta's chunk s is seed s's delta)
// A seed that does not hold row_mlp has zero parameters in the stacks (its act is gelu(0) = 0,
// its delta 0). The ops below read each seed's stage, alpha, kind and slot on the device, so the
// step needs no host decision and a captured graph replays it. Backward:
//   g = dL/d delta per chunk (gemm_delta_grad: the isolated objective for a TRAINING seed,
//       alpha dy for a blended one)
//   dpre = (g W2) ⊙ gelu'(pre), db1     linear_backward_input, DGELU + BGRAD
//   dW2, db2 = gᵀ act, Σ g               linear_backward_weight (only W2's diagonal blocks used)
//   dW1 = dpreᵀ x                        linear_backward_weight
//   jt = dpre W1dx                       linear_backward_input, W1dx = W1 with the rows of the
//                                        seeds that are not blended zeroed (a TRAINING seed
//                                        learns straight through and never reaches dx)
//   dx += jt over the WHOLE row          morph_rows_scatter (after the fused backward and the
//                                        residual_mlp GEMM path have written dx)
// The block-diagonal W2 costs S times the second GEMM's useful FLOPs (tiny next to the first
// at the shapes this serves); the training-FLOP ledger counts the blueprint's own FLOPs.
// CPU twins (float, double) and CUDA kernels (float) share the per-seed decisions of
// morph_gemm_ops.hpp.
#pragma once
#include <cstdint>

#include "core/hd.hpp"
#include "core/tensor.hpp"
#include "morph/blueprint_row_mlp.hpp"
#include "ops/morph/morph_gemm_ops.hpp"

namespace kasmina::ops {

// The stacked parameters (or their gradients; w1dx is then unused) of a layer's row group.
struct MorphRowParams {
  Tensor w1;    // [S*h, H]
  Tensor b1;    // [S*h]
  Tensor w2;    // [H, S*h], block diagonal
  Tensor b2;    // [H]
  Tensor w1dx;  // [S*h, H]: W1 rows of blended seeds, zero for the others (parameters only)
};

// Index in the stacks of parameter i of seed s's row_mlp (the pool's order W1[h][H] b1[h]
// W2[C][h] b2[C]): which stack (0 w1, 1 b1, 2 w2, 3 b2) and the offset in it.
struct RowParamAt {
  int32_t stack;
  int64_t at;
};
KASMINA_HD RowParamAt row_param_at(const morph::BlueprintShape& sh, int32_t seeds, int32_t s,
                                   int64_t i) {
  const int64_t H = sh.width, C = sh.chunk, h = sh.hidden, Sh = int64_t{seeds} * h;
  if (i < h * H) return {0, (s * h + i / H) * H + i % H};
  i -= h * H;
  if (i < h) return {1, s * h + i};
  i -= h;
  if (i < C * h) return {2, (s * C + i / h) * Sh + s * h + i % h};
  return {3, s * C + (i - C * h)};
}

// Fills the stacks from the slots of the seeds holding row_mlp (zero elsewhere, including W2's
// off-diagonal blocks); w1dx as described above.
KASMINA_OP(void, morph_rows_gather, (const MorphLayerBuffers& L, MorphRowParams& p), (L, p),
           L.device())

// Forward after the fused morph_forward: for each blended seed its chunk of out = x + alpha
// delta (delta [B, H]); for a TRAINING seed while collecting, step_stats[s][1] = the mean of
// delta² over its B*C values (f64, fixed order).
KASMINA_OP(void, morph_rows_blend,
           (const MorphLayerBuffers& L, const Tensor& x, const Tensor& delta, Tensor& out,
            const MorphForwardOptions& opt),
           (L, x, delta, out, opt), L.device())

// Backward, first half: g [B, H] = dL/d delta, chunk by chunk (gemm_delta_grad); for a TRAINING
// seed under task_gradient with param_grads, step_stats[s][1] = Σ <delta, dy> over its chunk.
KASMINA_OP(void, morph_rows_delta_grad,
           (const MorphLayerBuffers& L, const Tensor& dy, const Tensor& delta, Tensor& g,
            bool param_grads),
           (L, dy, delta, g, param_grads), L.device())

// Backward, second half: dx += jt (jt [B, H]) when dx is not null and some seed is blended;
// with param_grads, for each row_mlp seed grad_norm[s] = the norm of its gradient and, when it
// trains, its slot's gradient region = its parameters' entries of the gradient stacks `d`
// (zero past the parameter count).
KASMINA_OP(void, morph_rows_scatter,
           (const MorphLayerBuffers& L, const Tensor& jt, Tensor* dx, const MorphRowParams& d,
            bool param_grads),
           (L, jt, dx, d, param_grads), L.device())

}  // namespace kasmina::ops
