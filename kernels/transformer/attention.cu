// Multi-head self-attention, fused (layout and math: src/ops/transformer_ops.hpp). One block of
// 8 warps per (batch, head, tile of 64 rows); a warp owns one row at a time, its lanes own the
// keys l, l+32, ... (scores in registers, at most 8 per lane) and then the output columns l and
// l+32. Shared-memory rows use an odd pitch so a warp reading one column of 32 rows is free of
// bank conflicts.
//   forward:     K, V of the head in shared memory; per query row i: s = (q_i·scale)·K_j, stable
//                softmax (warp max, exp, warp sum), o_i = Σ_j p_j V_j; lse_i = max + log(sum).
//   backward dQ: K, V in shared memory; per query row i: recompute p_ij = exp(s_ij - lse_i),
//                dp_ij = dO_i·V_j, D_i = Σ_j p_ij dp_ij, dS_ij = p_ij (dp_ij - D_i),
//                dQ_i = scale Σ_j dS_ij K_j; D_i to a scratch row.
//   backward dK, dV: Q, dO, lse and D of the head in shared memory; per key row j: recompute
//                p_ij and dS_ij for every query row i, dV_j = Σ_i p_ij dO_i,
//                dK_j = scale Σ_i dS_ij Q_i.
// Every sum runs in a fixed order and each output element is written by one thread: no atomics,
// bitwise reproducible. Graph-safe (no host synchronisation; the scratch row comes from the
// device context's stream-ordered scratch buffer).
#include "kernels/transformer/attention_common.cuh"
#include "kernels/warp_reduce.cuh"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

using kernels::attention::combine_rows;
using kernels::attention::Geom;
using kernels::attention::kMaxDimsPerLane;
using kernels::attention::kRowsPerBlock;
using kernels::attention::kThreads;
using kernels::attention::kWarps;
using kernels::attention::load_rows;
using kernels::attention::row_dots;

struct Block {
  int b, h, lane, warp, row_begin, row_end;
  int64_t head;  // offset of (b, row 0, part q, head h) in qkv
};

__device__ Block block_of(const Geom& g) {
  Block k;
  k.b = static_cast<int>(blockIdx.x) / g.heads;
  k.h = static_cast<int>(blockIdx.x) % g.heads;
  k.lane = threadIdx.x & 31;
  k.warp = threadIdx.x >> 5;
  k.row_begin = static_cast<int>(blockIdx.y) * kRowsPerBlock + k.warp;
  k.row_end = min(g.tokens, static_cast<int>(blockIdx.y + 1) * kRowsPerBlock);
  k.head = static_cast<int64_t>(k.b) * g.tokens * 3 * g.width + k.h * g.head_dim;
  return k;
}

__device__ __forceinline__ int64_t stat_index(const Geom& g, const Block& k, int i) {
  return (static_cast<int64_t>(k.b) * g.heads + k.h) * g.tokens + i;
}

// K and V of the block's head in shared memory (rows of g.stride floats) and the calling warp's
// scratch area behind them.
struct Staged {
  const float* ks;
  const float* vs;
  float* warp_area;
};

// Loads K and V (the whole block cooperates, then synchronises); `per_warp` floats of scratch.
__device__ Staged stage_keys_values(const float* __restrict__ qkv, const Geom& g, const Block& k,
                                    int per_warp, float* smem) {
  const int64_t ld = 3LL * g.width;
  float* vs = smem + g.tokens * g.stride;
  load_rows(qkv + k.head + g.width, ld, g.tokens, g.head_dim, g.stride, 1.0f, smem);
  load_rows(qkv + k.head + 2 * g.width, ld, g.tokens, g.head_dim, g.stride, 1.0f, vs);
  __syncthreads();
  return {smem, vs, vs + g.tokens * g.stride + k.warp * per_warp};
}

template <int KPL>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(const float* __restrict__ qkv, Geom g, float* __restrict__ out,
                             float* __restrict__ lse) {
  extern __shared__ float smem[];
  const Block k = block_of(g);
  const int64_t ld = 3LL * g.width;
  const Staged st = stage_keys_values(qkv, g, k, g.head_dim + g.tokens, smem);
  const float *ks = st.ks, *vs = st.vs;
  float* qb = st.warp_area;     // q_i · scale
  float* pb = qb + g.head_dim;  // p_i
  for (int i = k.row_begin; i < k.row_end; i += kWarps) {
    for (int d = k.lane; d < g.head_dim; d += 32) qb[d] = qkv[k.head + i * ld + d] * g.scale;
    __syncwarp();
    float s[KPL];
    row_dots<KPL>(qb, ks, g, k.lane, s);
    float m = -INFINITY;
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) {
      if (k.lane + 32 * kk < g.tokens) m = fmaxf(m, s[kk]);
    }
    m = kernels::warp_max(m);
    float l = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) {
      s[kk] = k.lane + 32 * kk < g.tokens ? expf(s[kk] - m) : 0.0f;
      l += s[kk];
    }
    l = kernels::warp_sum(l);
    const float inv = 1.0f / l;
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) {
      if (k.lane + 32 * kk < g.tokens) pb[k.lane + 32 * kk] = s[kk] * inv;
    }
    __syncwarp();
    float* orow = out + (static_cast<int64_t>(k.b) * g.tokens + i) * g.width + k.h * g.head_dim;
#pragma unroll
    for (int dd = 0; dd < kMaxDimsPerLane; ++dd) {
      const int d = k.lane + 32 * dd;
      if (d < g.head_dim) orow[d] = combine_rows(pb, vs, g, d);
    }
    if (k.lane == 0) lse[stat_index(g, k, i)] = m + logf(l);
    __syncwarp();
  }
}

template <int KPL>
__global__ void __launch_bounds__(kThreads)
    attention_backward_q_kernel(const float* __restrict__ dout, const float* __restrict__ qkv,
                                const float* __restrict__ lse, Geom g, float* __restrict__ dqkv,
                                float* __restrict__ row_terms) {
  extern __shared__ float smem[];
  const Block k = block_of(g);
  const int64_t ld = 3LL * g.width;
  const Staged st = stage_keys_values(qkv, g, k, 2 * g.head_dim + g.tokens, smem);
  const float *ks = st.ks, *vs = st.vs;
  float* qb = st.warp_area;     // q_i · scale
  float* gb = qb + g.head_dim;  // dO_i
  float* sb = gb + g.head_dim;  // dS_i
  for (int i = k.row_begin; i < k.row_end; i += kWarps) {
    const int64_t orow = (static_cast<int64_t>(k.b) * g.tokens + i) * g.width + k.h * g.head_dim;
    for (int d = k.lane; d < g.head_dim; d += 32) {
      qb[d] = qkv[k.head + i * ld + d] * g.scale;
      gb[d] = dout[orow + d];
    }
    __syncwarp();
    float s[KPL], dp[KPL];
    row_dots<KPL>(qb, ks, g, k.lane, s);
    row_dots<KPL>(gb, vs, g, k.lane, dp);
    const float row_lse = lse[stat_index(g, k, i)];
    float part = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) {
      s[kk] = k.lane + 32 * kk < g.tokens ? expf(s[kk] - row_lse) : 0.0f;
      part += s[kk] * dp[kk];
    }
    const float di = kernels::warp_sum(part);
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) {
      if (k.lane + 32 * kk < g.tokens) sb[k.lane + 32 * kk] = s[kk] * (dp[kk] - di);
    }
    __syncwarp();
#pragma unroll
    for (int dd = 0; dd < kMaxDimsPerLane; ++dd) {
      const int d = k.lane + 32 * dd;
      if (d < g.head_dim) dqkv[k.head + i * ld + d] = g.scale * combine_rows(sb, ks, g, d);
    }
    if (k.lane == 0) row_terms[stat_index(g, k, i)] = di;
    __syncwarp();
  }
}

template <int KPL>
__global__ void __launch_bounds__(kThreads)
    attention_backward_kv_kernel(const float* __restrict__ dout, const float* __restrict__ qkv,
                                 const float* __restrict__ lse, const float* __restrict__ row_terms,
                                 Geom g, float* __restrict__ dqkv) {
  extern __shared__ float smem[];
  const Block k = block_of(g);
  const int64_t ld = 3LL * g.width;
  float* qs = smem;
  float* gs = qs + g.tokens * g.stride;
  float* ls = gs + g.tokens * g.stride;
  float* di = ls + g.tokens;
  float* kb = di + g.tokens + k.warp * (2 * g.head_dim + 2 * g.tokens);
  float* vb = kb + g.head_dim;
  float* pb = vb + g.head_dim;
  float* sb = pb + g.tokens;
  const int64_t dout_head = static_cast<int64_t>(k.b) * g.tokens * g.width + k.h * g.head_dim;
  load_rows(qkv + k.head, ld, g.tokens, g.head_dim, g.stride, 1.0f, qs);
  load_rows(dout + dout_head, g.width, g.tokens, g.head_dim, g.stride, 1.0f, gs);
  for (int t = threadIdx.x; t < g.tokens; t += blockDim.x) {
    ls[t] = lse[stat_index(g, k, t)];
    di[t] = row_terms[stat_index(g, k, t)];
  }
  __syncthreads();
  for (int j = k.row_begin; j < k.row_end; j += kWarps) {
    const int64_t krow = k.head + j * ld + g.width;  // k_j; v_j at + D
    for (int d = k.lane; d < g.head_dim; d += 32) {
      kb[d] = qkv[krow + d] * g.scale;
      vb[d] = qkv[krow + g.width + d];
    }
    __syncwarp();
    float s[KPL], dp[KPL];
    row_dots<KPL>(kb, qs, g, k.lane, s);  // over query rows i = lane + 32 kk
    row_dots<KPL>(vb, gs, g, k.lane, dp);
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) {
      const int i = k.lane + 32 * kk;
      if (i < g.tokens) {
        const float p = expf(s[kk] - ls[i]);
        pb[i] = p;
        sb[i] = p * (dp[kk] - di[i]);
      }
    }
    __syncwarp();
#pragma unroll
    for (int dd = 0; dd < kMaxDimsPerLane; ++dd) {
      const int d = k.lane + 32 * dd;
      if (d < g.head_dim) {
        dqkv[krow + d] = g.scale * combine_rows(sb, qs, g, d);
        dqkv[krow + g.width + d] = combine_rows(pb, gs, g, d);
      }
    }
    __syncwarp();
  }
}

dim3 grid_of(const AttentionDims& a) {
  return dim3(static_cast<unsigned>(a.batch * a.heads),
              static_cast<unsigned>((a.tokens + kRowsPerBlock - 1) / kRowsPerBlock));
}

size_t floats_bytes(int64_t n) {
  return static_cast<size_t>(n) * sizeof(float);
}

}  // namespace

void attention_forward(const Tensor& qkv, int64_t heads, Tensor& out, Tensor& lse) {
  constexpr const char* op = "attention_forward";
  const AttentionDims a = check_attention_forward_args(qkv, heads, out, lse);
  check_arg(op, "qkv", qkv, qkv.device(), DType::f32);
  if (a.batch == 0) return;
  const Geom g = kernels::attention::geom_of(a);
  const size_t bytes = floats_bytes(2LL * g.tokens * g.stride + kWarps * (g.head_dim + g.tokens));
  const cudaStream_t s = stream(qkv.device());  // also makes the device current
  kernels::attention::with_keys_per_lane(g.tokens, [&](auto kpl) {
    auto* kernel = attention_forward_kernel<decltype(kpl)::value>;
    kernels::attention::allow_shared_memory(kernel, bytes, qkv.device(), op);
    kernel<<<grid_of(a), kThreads, bytes, s>>>(qkv.data<float>(), g, out.data<float>(),
                                               lse.data<float>());
    KASMINA_LAUNCH_CHECK("attention_forward_kernel");
  });
}

void attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& lse, int64_t heads,
                        Tensor& dqkv) {
  constexpr const char* op = "attention_backward";
  const AttentionDims a = check_attention_backward_args(dout, qkv, lse, heads, dqkv);
  check_arg(op, "dout", dout, dout.device(), DType::f32);
  if (a.batch == 0) return;
  const Geom g = kernels::attention::geom_of(a);
  DeviceContext& ctx = context(dout.device());  // also makes the device current
  auto* row_terms = static_cast<float*>(scratch(ctx, floats_bytes(a.batch * a.heads * a.tokens)));
  const size_t q_bytes =
      floats_bytes(2LL * g.tokens * g.stride + kWarps * (2 * g.head_dim + g.tokens));
  const size_t kv_bytes = floats_bytes(2LL * g.tokens * g.stride + 2 * g.tokens +
                                       kWarps * (2 * g.head_dim + 2 * g.tokens));
  kernels::attention::with_keys_per_lane(g.tokens, [&](auto kpl) {
    auto* q_kernel = attention_backward_q_kernel<decltype(kpl)::value>;
    kernels::attention::allow_shared_memory(q_kernel, q_bytes, dout.device(), op);
    q_kernel<<<grid_of(a), kThreads, q_bytes, ctx.stream>>>(
        dout.data<float>(), qkv.data<float>(), lse.data<float>(), g, dqkv.data<float>(), row_terms);
    KASMINA_LAUNCH_CHECK("attention_backward_q_kernel");
    auto* kv_kernel = attention_backward_kv_kernel<decltype(kpl)::value>;
    kernels::attention::allow_shared_memory(kv_kernel, kv_bytes, dout.device(), op);
    kv_kernel<<<grid_of(a), kThreads, kv_bytes, ctx.stream>>>(
        dout.data<float>(), qkv.data<float>(), lse.data<float>(), row_terms, g, dqkv.data<float>());
    KASMINA_LAUNCH_CHECK("attention_backward_kv_kernel");
  });
}

}  // namespace kasmina::ops::cuda
