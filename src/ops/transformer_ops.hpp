// The transformer ops: multi-head self-attention with a fused softmax, the pieces of a patch
// embedding (patchify, class token + position embedding) and class-token pooling. Each is
// declared once by KASMINA_OP (op_registry.hpp): CPU twins in src/ops/transformer/ (float32 and
// float64), CUDA launchers and kernels in kernels/transformer/ (float32). Argument checks shared
// by both twins: src/ops/transformer/transformer_checks.hpp.
//
// Attention layout. qkv is the output of ONE linear layer D -> 3D applied to every token:
//   qkv [B, T, 3D], each token's row = [ q | k | v ], each part = [heads][dh] (D = heads * dh),
// i.e. element (b, t, part, h, d) sits at ((b*T + t) * 3 + part) * D + h*dh + d. The output
// out [B, T, D] concatenates the heads the same way ([heads][dh] per token), ready for the
// output projection D -> D. Per (b, h): S = Q Kᵀ / sqrt(dh), P = softmax over keys (stable:
// max subtracted), O = P V. No mask, no dropout on P.
// Saved for backward: lse [B, heads, T] = log Σ_j exp(S_ij) per query row (max + log of the
// sum); the backward recomputes P_ij = exp(S_ij - lse_i) rather than storing B·heads·T² floats.
// Limits (both twins; an InternalError names the limit): T <= kAttentionMaxTokens, dh <=
// kAttentionMaxHeadDim (the CUDA kernels keep K and V, or Q and dO, of one head in shared memory;
// the two-kernel backward of long sequences holds at most 8 scores per lane).
//
// Why our own kernel and not cuDNN's fused attention: cuDNN's scaled-dot-product attention
// (FlashAttention-2 style, reached only through the cudnn-frontend graph API) lists fp8, fp16 and
// bf16 inputs for Hopper in its support matrix (cuDNN backend 9.18.1), and no fp32 path: kasmina
// trains in fp32 and checks every op against an fp32/fp64 CPU twin, so using it would mean casting
// Q/K/V to bf16 (a different numerical model) plus a new dependency (the frontend's header
// library and its graph build/plan cache). Our sizes are tiny anyway: at the ViT of the issue
// (B = 128, T = 50, D = 128, 4 heads, dh = 32) one forward reads qkv 128·50·384·4 B = 9.8 MB
// and writes out 3.3 MB + lse 0.1 MB, and computes 2 · 2·T²·dh · B·heads = 164 MFLOP
// (QKᵀ and PV); the one-kernel backward (kernels/transformer/attention_rows.cu) keeps P and dS
// of the head in shared memory and forms S, dP, dQ, dK, dV once: 5 · 2·T²·dh · B·heads =
// 410 MFLOP, ~23 MB of traffic (qkv and dout read, dqkv written, lse). Both are a few
// microseconds of H200 bandwidth, where a flash kernel's tiling buys nothing at T = 50.
#pragma once
#include <cstdint>

#include "core/tensor.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::ops {

inline constexpr int64_t kAttentionMaxTokens = 256;
inline constexpr int64_t kAttentionMaxHeadDim = 64;

// ---------------------------------------------------------------------------------------------
// Multi-head self-attention
// ---------------------------------------------------------------------------------------------

// qkv [B,T,3D] -> out [B,T,D]; lse [B,heads,T] saved for the backward (layout above).
KASMINA_OP(void, attention_forward, (const Tensor& qkv, int64_t heads, Tensor& out, Tensor& lse),
           (qkv, heads, out, lse), qkv.device())
// dqkv [B,T,3D] (overwritten) from dout [B,T,D], the forward's qkv and lse. Deterministic: dQ is
// formed per query row and dK, dV per key row (fixed summation order, no atomics).
KASMINA_OP(void, attention_backward,
           (const Tensor& dout, const Tensor& qkv, const Tensor& lse, int64_t heads, Tensor& dqkv),
           (dout, qkv, lse, heads, dqkv), dout.device())

// ---------------------------------------------------------------------------------------------
// Patch embedding pieces
// ---------------------------------------------------------------------------------------------

// img [B,H,W,C] (NHWC) -> patches [B, T, p·p·C] with T = (H/p)·(W/p); p must divide H and W.
// Patches in row-major order (t = gy·(W/p) + gx); inside a patch the order is (dy, dx, c):
// element (dy·p + dx)·C + c. A linear layer p·p·C -> D on the patches is a convolution with
// kernel = stride = p whose weight is laid out [D][p][p][C].
KASMINA_OP(void, patchify_forward, (const Tensor& img, int64_t patch, Tensor& patches),
           (img, patch, patches), img.device())
// dimg [B,H,W,C] from dpatches [B,T,p·p·C] (the inverse permutation; every pixel is written).
KASMINA_OP(void, patchify_backward, (const Tensor& dpatches, int64_t patch, Tensor& dimg),
           (dpatches, patch, dimg), dpatches.device())

// Class token and position embedding. x [B,T,D]; cls [D] or an undefined Tensor (no class
// token); pos [T',D]; y [B,T',D] with T' = T + 1 when cls is defined (class token at index 0),
// else T' = T:   y[b,0] = cls + pos[0],  y[b,t+1] = x[b,t] + pos[t+1]   (or y = x + pos).
// One rounded addition per element: CUDA equals the CPU exactly.
KASMINA_OP(void, tokens_assemble_forward,
           (const Tensor& x, const Tensor& cls, const Tensor& pos, Tensor& y), (x, cls, pos, y),
           x.device())
// dx [B,T,D] = dy without the class row; dpos [T',D] = Σ_b dy[b]; *dcls [D] = Σ_b dy[b,0] (pass
// nullptr when there is no class token). Column sums deterministic (fixed order, no atomics).
KASMINA_OP(void, tokens_assemble_backward,
           (const Tensor& dy, Tensor& dx, Tensor* dcls, Tensor& dpos), (dy, dx, dcls, dpos),
           dy.device())

// Class-token pooling: y [B,D] = x[:, token, :] of x [B,T,D]; the backward writes dx [B,T,D]
// with dy in row `token` and zeros elsewhere (every element written). Exact on both devices.
KASMINA_OP(void, select_token_forward, (const Tensor& x, int64_t token, Tensor& y), (x, token, y),
           x.device())
KASMINA_OP(void, select_token_backward, (const Tensor& dy, int64_t token, Tensor& dx),
           (dy, token, dx), dy.device())

}  // namespace kasmina::ops
