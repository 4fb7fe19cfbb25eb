// Multi-head self-attention, fused (layout and math: src/ops/transformer_ops.hpp): the launchers.
// The forward, and the backward of heads whose Q, K, V, dO, P and dS fit one block's shared
// memory (T <= 128 at dh 32, <= 109 at dh 64 on an H100/H200), run the thread-per-row kernels of
// attention_rows.cu. Longer sequences take the two-kernel backward below. One block of up to 8
// warps per (batch, head, tile of 64 rows); a warp owns kRows = 4 rows at a time (each 16-byte
// shared-memory load of a staged row serves the 4 of them), its lanes own the rows l, l+32, ...
// of the other side (scores in registers, at most 8 per lane per row) and then the output
// columns l and l+32. Staging and inner loops: attention_common.cuh.
//   backward dQ: K, V in shared memory; per query row i: recompute p_ij = exp(s_ij - lse_i),
//                dp_ij = dO_i·V_j, D_i = Σ_j p_ij dp_ij, dS_ij = p_ij (dp_ij - D_i),
//                dQ_i = scale Σ_j dS_ij K_j; D_i to a scratch row.
//   backward dK, dV: Q, dO, lse and D of the head in shared memory; per key row j: recompute
//                p_ij and dS_ij for every query row i, dV_j = Σ_i p_ij dO_i,
//                dK_j = scale Σ_i dS_ij Q_i.
// Every sum runs in a fixed order and each output element is written by one thread: no atomics,
// bitwise reproducible. qkv, out, dout and dqkv float32, or bf16 (widened exactly when loaded,
// results rounded once when stored; lse, the row terms and all arithmetic float32). Graph-safe (no
// host synchronisation; the scratch row comes from the device context's stream-ordered scratch
// buffer).
#include "kernels/transformer/attention_common.cuh"
#include "kernels/transformer/attention_rows.hpp"
#include "kernels/warp_reduce.cuh"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

using kernels::store_float;
using kernels::attention::combine_rows;
using kernels::attention::Geom;
using kernels::attention::kMaxDimsPerLane;
using kernels::attention::kMaxWarps;
using kernels::attention::kRows;
using kernels::attention::kRowsPerBlock;
using kernels::attention::load_rows;
using kernels::attention::load_warp_rows;
using kernels::attention::row_dots;

struct Block {
  int b, h, lane, warp, warps;
  int first, last, step;  // the warp's first row group, the tile's last row, the group stride
  int64_t head;           // offset of (b, row 0, part q, head h) in qkv
  int64_t dout_head;      // offset of (b, row 0, head h) in out / dout
};

__device__ Block block_of(const Geom& g) {
  Block k;
  k.b = static_cast<int>(blockIdx.x) / g.heads;
  k.h = static_cast<int>(blockIdx.x) % g.heads;
  k.lane = threadIdx.x & 31;
  k.warp = threadIdx.x >> 5;
  k.warps = blockDim.x >> 5;
  k.first = static_cast<int>(blockIdx.y) * kRowsPerBlock + k.warp * kRows;
  k.last = min(g.tokens, static_cast<int>(blockIdx.y + 1) * kRowsPerBlock) - 1;
  k.step = k.warps * kRows;
  k.head = static_cast<int64_t>(k.b) * g.tokens * 3 * g.width + k.h * g.head_dim;
  k.dout_head = static_cast<int64_t>(k.b) * g.tokens * g.width + k.h * g.head_dim;
  return k;
}

__device__ __forceinline__ int64_t stat_index(const Geom& g, const Block& k, int i) {
  return (static_cast<int64_t>(k.b) * g.heads + k.h) * g.tokens + i;
}

// Lane r stores vals[r] for row i0 + r of the group (when inside the tile): one per row.
__device__ __forceinline__ void store_row_stats(const Geom& g, const Block& k, int i0,
                                                const float (&vals)[kRows], float* stats) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (k.lane == r && i0 + r <= k.last) stats[stat_index(g, k, i0 + r)] = vals[r];
  }
}

// For each output column d the lane owns: the kRows weighted sums of the staged rows
// (combine_rows), stored with store(row, d, value) for the group's rows inside the tile.
template <class Store>
__device__ __forceinline__ void combine_and_store(const float* w, const float* rows, const Geom& g,
                                                  const Block& k, int i0, Store store) {
#pragma unroll
  for (int dd = 0; dd < kMaxDimsPerLane; ++dd) {
    const int d = k.lane + 32 * dd;
    if (d >= g.head_dim) continue;
    float acc[kRows];
    combine_rows(w, rows, g, d, acc);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (i0 + r <= k.last) store(i0 + r, d, acc[r]);
    }
  }
}

__device__ __forceinline__ float* shared_floats() {
  extern __shared__ float4 smem4[];  // float4: 16-byte alignment for the vector loads
  return reinterpret_cast<float*>(smem4);
}

// Loads K and V of the block's head into shared memory (K rows first, V after; the whole block
// cooperates, then synchronises) and returns the calling warp's scratch area of `per_warp` floats
// behind them.
template <class E>
__device__ float* stage_keys_values(const E* __restrict__ qkv, const Geom& g, const Block& k,
                                    int per_warp, float* smem) {
  const int64_t ld = 3LL * g.width;
  float* vs = smem + g.t4 * g.stride;
  load_rows(qkv + k.head + g.width, ld, g, 1.0f, smem);
  load_rows(qkv + k.head + 2 * g.width, ld, g, 1.0f, vs);
  __syncthreads();
  return vs + g.t4 * g.stride + k.warp * per_warp;
}

template <int KPL, class E>
__global__ void __launch_bounds__(kMaxWarps * 32)
    attention_backward_q_kernel(const E* __restrict__ dout, const E* __restrict__ qkv,
                                const float* __restrict__ lse, Geom g, E* __restrict__ dqkv,
                                float* __restrict__ row_terms) {
  float* smem = shared_floats();
  const Block k = block_of(g);
  const int64_t ld = 3LL * g.width;
  const float* ks = smem;
  const float* vs = smem + g.t4 * g.stride;
  float* qa = stage_keys_values(qkv, g, k, kRows * (2 * g.dh4 + g.t4), smem);  // q_i · scale
  float* ga = qa + kRows * g.dh4;                                              // dO_i
  float* sw = ga + kRows * g.dh4;                                              // dS_i [t4]
  for (int i0 = k.first; i0 <= k.last; i0 += k.step) {
    load_warp_rows(qkv + k.head, ld, i0, k.last, g, g.scale, k.lane, qa);
    load_warp_rows(dout + k.dout_head, g.width, i0, k.last, g, 1.0f, k.lane, ga);
    __syncwarp();
    float s[kRows][KPL], dp[kRows][KPL];
    row_dots<KPL>(qa, ks, g, k.lane, s);
    row_dots<KPL>(ga, vs, g, k.lane, dp);
    float di[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float row_lse = lse[stat_index(g, k, min(i0 + r, k.last))];
      float part = 0.0f;
#pragma unroll
      for (int kk = 0; kk < KPL; ++kk) {
        s[r][kk] = k.lane + 32 * kk < g.tokens ? expf(s[r][kk] - row_lse) : 0.0f;
        part += s[r][kk] * dp[r][kk];
      }
      di[r] = kernels::warp_sum(part);
#pragma unroll
      for (int kk = 0; kk < KPL; ++kk) {
        const int j = k.lane + 32 * kk;
        if (j < g.t4) sw[r * g.t4 + j] = s[r][kk] * (dp[r][kk] - di[r]);  // 0 past T
      }
    }
    __syncwarp();
    combine_and_store(sw, ks, g, k, i0, [&](int i, int d, float v) {
      store_float(dqkv, k.head + i * ld + d, g.scale * v);
    });
    store_row_stats(g, k, i0, di, row_terms);
    __syncwarp();
  }
}

template <int KPL, class E>
__global__ void __launch_bounds__(kMaxWarps * 32)
    attention_backward_kv_kernel(const E* __restrict__ dout, const E* __restrict__ qkv,
                                 const float* __restrict__ lse, const float* __restrict__ row_terms,
                                 Geom g, E* __restrict__ dqkv) {
  float* smem = shared_floats();
  const Block k = block_of(g);
  const int64_t ld = 3LL * g.width;
  float* qs = smem;
  float* gs = qs + g.t4 * g.stride;
  float* ls = gs + g.t4 * g.stride;
  float* dis = ls + g.t4;
  float* ka = dis + g.t4 + k.warp * kRows * (2 * g.dh4 + 2 * g.t4);  // k_j · scale
  float* va = ka + kRows * g.dh4;                                    // v_j
  float* pw = va + kRows * g.dh4;                                    // p_.j [t4]
  float* sw = pw + kRows * g.t4;                                     // dS_.j [t4]
  load_rows(qkv + k.head, ld, g, 1.0f, qs);
  load_rows(dout + k.dout_head, g.width, g, 1.0f, gs);
  for (int t = threadIdx.x; t < g.tokens; t += blockDim.x) {
    ls[t] = lse[stat_index(g, k, t)];
    dis[t] = row_terms[stat_index(g, k, t)];
  }
  __syncthreads();
  for (int j0 = k.first; j0 <= k.last; j0 += k.step) {
    load_warp_rows(qkv + k.head + g.width, ld, j0, k.last, g, g.scale, k.lane, ka);
    load_warp_rows(qkv + k.head + 2 * g.width, ld, j0, k.last, g, 1.0f, k.lane, va);
    __syncwarp();
    float s[kRows][KPL], dp[kRows][KPL];  // over query rows i = lane + 32 kk
    row_dots<KPL>(ka, qs, g, k.lane, s);
    row_dots<KPL>(va, gs, g, k.lane, dp);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int kk = 0; kk < KPL; ++kk) {
        const int i = k.lane + 32 * kk;
        if (i >= g.t4) continue;
        const float p = i < g.tokens ? expf(s[r][kk] - ls[i]) : 0.0f;
        pw[r * g.t4 + i] = p;
        sw[r * g.t4 + i] = i < g.tokens ? p * (dp[r][kk] - dis[i]) : 0.0f;
      }
    }
    __syncwarp();
    // dK_j = scale Σ_i dS_ij Q_i at row j, part k; dV_j = Σ_i p_ij dO_i at part v.
    combine_and_store(sw, qs, g, k, j0, [&](int j, int d, float v) {
      store_float(dqkv, k.head + j * ld + g.width + d, g.scale * v);
    });
    combine_and_store(pw, gs, g, k, j0, [&](int j, int d, float v) {
      store_float(dqkv, k.head + j * ld + 2 * g.width + d, v);
    });
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

// The two-kernel backward (heads too large for attention_rows' one-kernel backward).
template <class E>
void backward_two_kernels(const AttentionDims& a, const E* dout, const E* qkv, const float* lse,
                          E* dqkv, Device dev, DeviceContext& ctx) {
  constexpr const char* op = "attention_backward";
  const Geom g = kernels::attention::geom_of(a);
  auto* row_terms = static_cast<float*>(scratch(ctx, floats_bytes(a.batch * a.heads * a.tokens)));
  const auto q_bytes = [&](int warps) {
    return floats_bytes(2LL * g.t4 * g.stride + warps * kRows * (2 * g.dh4 + g.t4));
  };
  const auto kv_bytes = [&](int warps) {
    return floats_bytes(2LL * g.t4 * g.stride + 2 * g.t4 + warps * kRows * (2 * g.dh4 + 2 * g.t4));
  };
  kernels::attention::with_keys_per_lane(g.tokens, [&](auto kpl) {
    auto* q_kernel = attention_backward_q_kernel<decltype(kpl)::value, E>;
    const int q_warps = kernels::attention::prepare_launch(q_kernel, q_bytes, dev, op);
    q_kernel<<<grid_of(a), q_warps * 32, q_bytes(q_warps), ctx.stream>>>(dout, qkv, lse, g, dqkv,
                                                                         row_terms);
    KASMINA_LAUNCH_CHECK("attention_backward_q_kernel");
    auto* kv_kernel = attention_backward_kv_kernel<decltype(kpl)::value, E>;
    const int kv_warps = kernels::attention::prepare_launch(kv_kernel, kv_bytes, dev, op);
    kv_kernel<<<grid_of(a), kv_warps * 32, kv_bytes(kv_warps), ctx.stream>>>(dout, qkv, lse,
                                                                             row_terms, g, dqkv);
    KASMINA_LAUNCH_CHECK("attention_backward_kv_kernel");
  });
}

template <class E>
void backward_of(const AttentionDims& a, const Tensor& dout, const Tensor& qkv, const Tensor& lse,
                 Tensor& dqkv) {
  DeviceContext& ctx = context(dout.device());  // also makes the device current
  if (attention_rows::backward_fits(a, dout.device())) {
    attention_rows::backward(a, dout.data<E>(), qkv.data<E>(), lse.data<float>(), dqkv.data<E>(),
                             dout.device(), ctx.stream);
    return;
  }
  backward_two_kernels(a, dout.data<E>(), qkv.data<E>(), lse.data<float>(), dqkv.data<E>(),
                       dout.device(), ctx);
}

// float32 or bf16 activations (the checks shared with the CPU put lse beside them).
void check_activations(const char* op, const char* name, const Tensor& t) {
  check_arg(op, name, t, t.device(), t.dtype() == DType::bf16 ? DType::bf16 : DType::f32);
}

}  // namespace

void attention_forward(const Tensor& qkv, int64_t heads, Tensor& out, Tensor& lse) {
  constexpr const char* op = "attention_forward";
  const AttentionDims a = check_attention_forward_args(qkv, heads, out, lse);
  check_activations(op, "qkv", qkv);
  if (a.batch == 0) return;
  const cudaStream_t s = stream(qkv.device());  // also makes the device current
  if (qkv.dtype() == DType::bf16) {
    attention_rows::forward(a, qkv.data<bf16>(), out.data<bf16>(), lse.data<float>(), qkv.device(),
                            s);
  } else {
    attention_rows::forward(a, qkv.data<float>(), out.data<float>(), lse.data<float>(),
                            qkv.device(), s);
  }
}

void attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& lse, int64_t heads,
                        Tensor& dqkv) {
  constexpr const char* op = "attention_backward";
  const AttentionDims a = check_attention_backward_args(dout, qkv, lse, heads, dqkv);
  check_activations(op, "dout", dout);
  if (a.batch == 0) return;
  if (dout.dtype() == DType::bf16)
    backward_of<bf16>(a, dout, qkv, lse, dqkv);
  else
    backward_of<float>(a, dout, qkv, lse, dqkv);
}

}  // namespace kasmina::ops::cuda
