// Multi-head self-attention, one thread per row (declarations: attention_rows.hpp; layout and
// math: src/ops/transformer_ops.hpp). One block per (batch, head). A row's vectors (q_i and dO_i,
// or the accumulators of dK_j and dV_j) live in the registers of its thread, so each 16-byte
// shared-memory load of the other side's rows (a broadcast: every row of a warp reads the same
// key) feeds four FMAs; SPLIT = 4, 2 or 1 adjacent lanes share a row (for T <= 32, <= 128,
// <= 256) and take every SPLIT-th row of the other side, then combine with a fixed butterfly.
//   forward:  K and V of the head in shared memory; thread (i, s) keeps q_i·scale and runs an
//             online softmax over its keys in chunks of kChunk (running max m, sum l, o rescaled
//             only when the max grows); the SPLIT partial (m, l, o) merge; out_i = o / l,
//             lse_i = m + log l.
//   backward: Q, K, V, dO of the head in shared memory, and P, dS [T][T]. Phase 1 (thread per
//             query row): P_ij = exp(s_ij - lse_i), dP_ij = dO_i·V_j into shared memory,
//             D_i = Σ_j P_ij dP_ij, then dS_ij = P_ij (dP_ij - D_i) in place and
//             dQ_i = scale Σ_j dS_ij K_j. Phase 2 (thread per key row): dV_j = Σ_i P_ij dO_i,
//             dK_j = scale Σ_i dS_ij Q_i. Nothing is recomputed and D never leaves the block.
// Every sum runs in a fixed order and each output element is written by one thread: no atomics,
// bitwise reproducible. Head dimensions are padded to DH = 8, 16, 32 or 64 with zeros.
// Element type E of qkv, out, dout and dqkv: float, or bf16 (widened exactly when staged or
// loaded, every result rounded once when stored; shared memory, sums, the softmax and lse stay
// float32).
#include <type_traits>

#include "kernels/transformer/attention_common.cuh"
#include "kernels/transformer/attention_rows.hpp"
#include "kernels/vector_io.cuh"
#include "kernels/warp_reduce.cuh"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda::attention_rows {

namespace {

using kernels::kFullMask;
using kernels::load_float;
using kernels::load_floats;
using kernels::store_float;
using kernels::store_floats;

constexpr int kMaxThreads = 256;  // T · SPLIT <= 256 for every T <= kAttentionMaxTokens
constexpr int kChunk = 4;         // keys per online-softmax step of the forward
static_assert(kAttentionMaxTokens <= kMaxThreads, "one thread per row at SPLIT 1");

struct RowGeom {
  int tokens, width, heads, head_dim;
  int pitch;  // shared row pitch of [T][DH] matrices: DH + 4 (an odd number of 16-byte quads)
  int ppitch;  // shared row pitch of P and dS: ⌈T/32⌉·32 + SPLIT (row i, lane s: bank i·SPLIT+s)
  int64_t ld;  // 3D: the row pitch of qkv
  float scale;
  bool vec4;  // dh and D multiples of 4: rows move 4 elements at a time (float4, 8 bytes of bf16)
};

// Threads per row: blocks of at most 128 threads up to T = 64, so that four blocks of ~110-125
// registers per thread share an SM (the ViT's 512 heads at T = 50 in one wave on 132 SMs).
int split_of(int tokens) {
  return tokens <= 32 ? 4 : tokens <= 128 ? 2 : 1;
}

int padded_dh(int dh) {
  return dh <= 8 ? 8 : dh <= 16 ? 16 : dh <= 32 ? 32 : 64;
}

RowGeom geom_of(const AttentionDims& a) {
  const int t = static_cast<int>(a.tokens), dh = static_cast<int>(a.head_dim);
  return {t,
          static_cast<int>(a.width),
          static_cast<int>(a.heads),
          dh,
          padded_dh(dh) + 4,
          (t + 31) / 32 * 32 + split_of(t),
          3 * a.width,
          1.0f / sqrtf(static_cast<float>(dh)),
          dh % 4 == 0 && a.width % 4 == 0};
}

__device__ __forceinline__ float* shared_floats() {
  extern __shared__ float4 smem4[];  // float4: 16-byte alignment for the vector loads
  return reinterpret_cast<float*>(smem4);
}

// One staged matrix: rows t < T of src (row pitch ld) into dst (pitch g.pitch).
template <class E>
struct StageJob {
  const E* src;
  int64_t ld;
  float* dst;
};

// Four elements d..d+3 of a global row as floats (zeros past dh).
template <class E>
__device__ __forceinline__ float4 row_quad(const E* row, const RowGeom& g, int d) {
  if (g.vec4 && d < g.head_dim) {
    float v[4];
    load_floats<4>(row, d, v);
    return make_float4(v[0], v[1], v[2], v[3]);
  }
  return make_float4(d < g.head_dim ? load_float(row, d) : 0.0f,
                     d + 1 < g.head_dim ? load_float(row, d + 1) : 0.0f,
                     d + 2 < g.head_dim ? load_float(row, d + 2) : 0.0f,
                     d + 3 < g.head_dim ? load_float(row, d + 3) : 0.0f);
}

// Quad idx (row idx / (DH/4), columns 4·(idx % (DH/4)) ...) of a job's source; zeros past dh.
template <int DH, class E>
__device__ __forceinline__ float4 stage_quad(const StageJob<E>& job, const RowGeom& g, int idx) {
  const int t = idx / (DH / 4), d = 4 * (idx % (DH / 4));
  return row_quad(job.src + t * job.ld, g, d);
}

// dst row t = src row t for t < T, d < dh, zeros for dh <= d < DH, for N matrices. The whole
// block cooperates; each thread issues the loads of kStageBatch quads of every matrix before
// storing any, so the block waits for about one global round trip instead of one per quad.
constexpr int kStageBatch = 4;
template <int DH, int N, class E>
__device__ __forceinline__ void stage(const StageJob<E> (&jobs)[N], const RowGeom& g) {
  const int n = g.tokens * (DH / 4);
  for (int base = threadIdx.x; base < n; base += kStageBatch * blockDim.x) {
    float4 v[N][kStageBatch];
#pragma unroll
    for (int k = 0; k < kStageBatch; ++k) {
      const int idx = base + k * static_cast<int>(blockDim.x);
#pragma unroll
      for (int m = 0; m < N; ++m) {
        v[m][k] = idx < n ? stage_quad<DH>(jobs[m], g, idx) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
    }
#pragma unroll
    for (int k = 0; k < kStageBatch; ++k) {
      const int idx = base + k * static_cast<int>(blockDim.x);
      if (idx >= n) break;
      const int t = idx / (DH / 4), d = 4 * (idx % (DH / 4));
#pragma unroll
      for (int m = 0; m < N; ++m) {
        *reinterpret_cast<float4*>(jobs[m].dst + t * g.pitch + d) = v[m][k];
      }
    }
  }
}

// r = row · mul (a global row of dh values; zeros past dh).
template <int DH, class E>
__device__ __forceinline__ void global_row(const E* __restrict__ row, const RowGeom& g, float mul,
                                           float (&r)[DH]) {
#pragma unroll
  for (int d = 0; d < DH; d += 4) {
    if (g.vec4 && d < g.head_dim) {
      float v[4];
      load_floats<4>(row, d, v);
      r[d] = v[0] * mul, r[d + 1] = v[1] * mul, r[d + 2] = v[2] * mul, r[d + 3] = v[3] * mul;
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e)
        r[d + e] = d + e < g.head_dim ? load_float(row, d + e) * mul : 0.0f;
    }
  }
}

// r = row · mul for a staged row.
template <int DH>
__device__ __forceinline__ void shared_row(const float* row, float mul, float (&r)[DH]) {
  const auto* r4 = reinterpret_cast<const float4*>(row);
#pragma unroll
  for (int c = 0; c < DH / 4; ++c) {
    const float4 v = r4[c];
    r[4 * c] = v.x * mul, r[4 * c + 1] = v.y * mul, r[4 * c + 2] = v.z * mul;
    r[4 * c + 3] = v.w * mul;
  }
}

// Σ_d a[d] · row[d] over a staged row: even and odd quads in two chains (half the dependent
// FMA latency), added at the end.
template <int DH>
__device__ __forceinline__ float dot_row(const float (&a)[DH], const float* row) {
  const auto* r4 = reinterpret_cast<const float4*>(row);
  float acc[2] = {0.0f, 0.0f};
#pragma unroll
  for (int c = 0; c < DH / 4; ++c) {
    const float4 v = r4[c];
    float& x = acc[c & 1];
    x = fmaf(a[4 * c], v.x, x);
    x = fmaf(a[4 * c + 1], v.y, x);
    x = fmaf(a[4 * c + 2], v.z, x);
    x = fmaf(a[4 * c + 3], v.w, x);
  }
  return acc[0] + acc[1];
}

// acc[d] += w · row[d] over a staged row.
template <int DH>
__device__ __forceinline__ void add_row(float w, const float* row, float (&acc)[DH]) {
  const auto* r4 = reinterpret_cast<const float4*>(row);
#pragma unroll
  for (int c = 0; c < DH / 4; ++c) {
    const float4 v = r4[c];
    acc[4 * c] = fmaf(w, v.x, acc[4 * c]);
    acc[4 * c + 1] = fmaf(w, v.y, acc[4 * c + 1]);
    acc[4 * c + 2] = fmaf(w, v.z, acc[4 * c + 2]);
    acc[4 * c + 3] = fmaf(w, v.w, acc[4 * c + 3]);
  }
}

// Sums over the SPLIT lanes of a row (butterfly; every lane ends with the sum).
template <int SPLIT>
__device__ __forceinline__ float split_sum(float v) {
#pragma unroll
  for (int off = 1; off < SPLIT; off <<= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

template <int SPLIT, int DH>
__device__ __forceinline__ void split_sum(float (&v)[DH]) {
#pragma unroll
  for (int d = 0; d < DH; ++d) v[d] = split_sum<SPLIT>(v[d]);
}

// dst[d] = v[d] · mul for d < dh (rounded once to E); lane s of the row stores the quads c with
// c % SPLIT == s.
template <int DH, int SPLIT, class E>
__device__ __forceinline__ void store_row(E* __restrict__ dst, int s, const RowGeom& g, float mul,
                                          const float (&v)[DH]) {
#pragma unroll
  for (int c = 0; c < DH / 4; ++c) {
    const int d = 4 * c;
    if (c % SPLIT != s || d >= g.head_dim) continue;
    if (g.vec4) {
      const float q[4] = {v[d] * mul, v[d + 1] * mul, v[d + 2] * mul, v[d + 3] * mul};
      store_floats<4>(dst, d, q);
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (d + e < g.head_dim) store_float(dst, d + e, v[d + e] * mul);
      }
    }
  }
}

template <int DH, int SPLIT, class E>
__global__ void __launch_bounds__(kMaxThreads)
    rows_forward_kernel(const E* __restrict__ qkv, RowGeom g, E* __restrict__ out,
                        float* __restrict__ lse) {
  float* ks = shared_floats();
  float* vs = ks + g.tokens * g.pitch;
  const int b = static_cast<int>(blockIdx.x) / g.heads, h = static_cast<int>(blockIdx.x) % g.heads;
  const E* head = qkv + static_cast<int64_t>(b) * g.tokens * g.ld + h * g.head_dim;
  const int i = static_cast<int>(threadIdx.x) / SPLIT, s = static_cast<int>(threadIdx.x) % SPLIT;
  const bool active = i < g.tokens;  // the rest of the last warp only joins the shuffles
  float q[DH];
  global_row<DH>(head + min(i, g.tokens - 1) * g.ld, g, g.scale, q);  // in flight while staging
  const StageJob<E> jobs[2] = {{head + g.width, g.ld, ks}, {head + 2 * g.width, g.ld, vs}};
  stage<DH>(jobs, g);
  __syncthreads();

  float o[DH];
#pragma unroll
  for (int d = 0; d < DH; ++d) o[d] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  const int end = active ? g.tokens : 0;
  for (int j0 = s; j0 < end; j0 += SPLIT * kChunk) {
    float sc[kChunk];  // keys j0, j0 + SPLIT, ...; -inf past T (sc[0] is a real key)
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      const int j = j0 + c * SPLIT;
      const float v = dot_row<DH>(q, ks + min(j, g.tokens - 1) * g.pitch);
      sc[c] = j < g.tokens ? v : -INFINITY;
    }
    float cm = sc[0];
#pragma unroll
    for (int c = 1; c < kChunk; ++c) cm = fmaxf(cm, sc[c]);
    if (cm > m) {
      const float alpha = expf(m - cm);  // 0 on the first chunk
      l *= alpha;
#pragma unroll
      for (int d = 0; d < DH; ++d) o[d] *= alpha;
      m = cm;
    }
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      const float p = expf(sc[c] - m);
      l += p;
      add_row<DH>(p, vs + min(j0 + c * SPLIT, g.tokens - 1) * g.pitch, o);
    }
  }
  // Merge the SPLIT partial softmaxes of the row (a lane without keys has m = -inf, l = 0).
#pragma unroll
  for (int off = 1; off < SPLIT; off <<= 1) {
    const float mo = __shfl_xor_sync(kFullMask, m, off);
    const float lo = __shfl_xor_sync(kFullMask, l, off);
    const float mn = fmaxf(m, mo);
    const float a = m == -INFINITY ? 0.0f : expf(m - mn);
    const float c = mo == -INFINITY ? 0.0f : expf(mo - mn);
    l = l * a + lo * c;
#pragma unroll
    for (int d = 0; d < DH; ++d) {
      const float od = __shfl_xor_sync(kFullMask, o[d], off);
      o[d] = o[d] * a + od * c;
    }
    m = mn;
  }
  if (!active) return;
  E* orow = out + (static_cast<int64_t>(b) * g.tokens + i) * g.width + h * g.head_dim;
  store_row<DH, SPLIT>(orow, s, g, 1.0f / l, o);
  if (s == 0) lse[(static_cast<int64_t>(b) * g.heads + h) * g.tokens + i] = m + logf(l);
}

template <int DH, int SPLIT, class E>
__global__ void __launch_bounds__(kMaxThreads)
    rows_backward_kernel(const E* __restrict__ dout, const E* __restrict__ qkv,
                         const float* __restrict__ lse, RowGeom g, E* __restrict__ dqkv) {
  const int tp = g.tokens * g.pitch;
  float* qs = shared_floats();
  float* ks = qs + tp;
  float* vs = ks + tp;
  float* gs = vs + tp;                   // dO
  float* ps = gs + tp;                   // P [T][ppitch]
  float* ds = ps + g.tokens * g.ppitch;  // dP, then dS in place
  const int b = static_cast<int>(blockIdx.x) / g.heads, h = static_cast<int>(blockIdx.x) % g.heads;
  const int64_t head_offset = static_cast<int64_t>(b) * g.tokens * g.ld + h * g.head_dim;
  const E* head = qkv + head_offset;
  const int r = static_cast<int>(threadIdx.x) / SPLIT, s = static_cast<int>(threadIdx.x) % SPLIT;
  const bool active = r < g.tokens;  // the rest of the last warp only joins the shuffles
  const int end = active ? g.tokens : 0;
  const int rc = min(r, g.tokens - 1);
  const float row_lse = lse[(static_cast<int64_t>(b) * g.heads + h) * g.tokens + rc];
  const E* dout_head = dout + static_cast<int64_t>(b) * g.tokens * g.width + h * g.head_dim;
  const StageJob<E> jobs[4] = {{head, g.ld, qs},
                               {head + g.width, g.ld, ks},
                               {head + 2 * g.width, g.ld, vs},
                               {dout_head, g.width, gs}};
  stage<DH>(jobs, g);
  __syncthreads();

  {  // Phase 1: query row i = r.
    float q[DH], go[DH];
    shared_row<DH>(qs + rc * g.pitch, g.scale, q);
    shared_row<DH>(gs + rc * g.pitch, 1.0f, go);
    float* prow = ps + r * g.ppitch;
    float* drow = ds + r * g.ppitch;
    float part = 0.0f;
#pragma unroll 2
    for (int j = s; j < end; j += SPLIT) {
      const float p = expf(dot_row<DH>(q, ks + j * g.pitch) - row_lse);
      const float dp = dot_row<DH>(go, vs + j * g.pitch);
      prow[j] = p;
      drow[j] = dp;
      part = fmaf(p, dp, part);
    }
    const float row_term = split_sum<SPLIT>(part);  // D_i
    float dq[DH];
#pragma unroll
    for (int d = 0; d < DH; ++d) dq[d] = 0.0f;
    for (int j = s; j < end; j += SPLIT) {
      const float dsv = prow[j] * (drow[j] - row_term);
      drow[j] = dsv;
      add_row<DH>(dsv, ks + j * g.pitch, dq);
    }
    split_sum<SPLIT, DH>(dq);
    if (active) store_row<DH, SPLIT>(dqkv + head_offset + r * g.ld, s, g, g.scale, dq);
  }
  __syncthreads();
  {  // Phase 2: key row j = r.
    float dk[DH], dv[DH];
#pragma unroll
    for (int d = 0; d < DH; ++d) dk[d] = dv[d] = 0.0f;
    for (int i = s; i < end; i += SPLIT) {
      add_row<DH>(ps[i * g.ppitch + r], gs + i * g.pitch, dv);
      add_row<DH>(ds[i * g.ppitch + r], qs + i * g.pitch, dk);
    }
    split_sum<SPLIT, DH>(dk);
    split_sum<SPLIT, DH>(dv);
    if (!active) return;
    E* row = dqkv + head_offset + r * g.ld;
    store_row<DH, SPLIT>(row + g.width, s, g, g.scale, dk);
    store_row<DH, SPLIT>(row + 2 * g.width, s, g, 1.0f, dv);
  }
}

// Calls f(DH, SPLIT) as integral constants for the shape.
template <class F>
void dispatch(const RowGeom& g, F&& f) {
  const auto with_split = [&](auto dh) {
    switch (split_of(g.tokens)) {
      case 4:
        return f(dh, std::integral_constant<int, 4>{});
      case 2:
        return f(dh, std::integral_constant<int, 2>{});
      default:
        return f(dh, std::integral_constant<int, 1>{});
    }
  };
  switch (padded_dh(g.head_dim)) {
    case 8:
      return with_split(std::integral_constant<int, 8>{});
    case 16:
      return with_split(std::integral_constant<int, 16>{});
    case 32:
      return with_split(std::integral_constant<int, 32>{});
    default:
      return with_split(std::integral_constant<int, 64>{});
  }
}

unsigned threads_of(const RowGeom& g) {
  return static_cast<unsigned>((g.tokens * split_of(g.tokens) + 31) / 32 * 32);
}

size_t forward_bytes(const RowGeom& g) {
  return 2 * static_cast<size_t>(g.tokens) * g.pitch * sizeof(float);
}

size_t backward_bytes(const RowGeom& g) {
  const size_t t = static_cast<size_t>(g.tokens);
  return (4 * t * g.pitch + 2 * t * g.ppitch) * sizeof(float);
}

template <class E>
void forward_rows(const AttentionDims& a, const E* qkv, E* out, float* lse, Device dev,
                  cudaStream_t stream) {
  const RowGeom g = geom_of(a);
  const size_t bytes = forward_bytes(g);
  dispatch(g, [&](auto dh, auto split) {
    auto* kernel = rows_forward_kernel<decltype(dh)::value, decltype(split)::value, E>;
    kernels::attention::prepare_launch(
        kernel, [&](int) { return bytes; }, dev, "attention_forward");
    kernel<<<static_cast<unsigned>(a.batch * a.heads), threads_of(g), bytes, stream>>>(qkv, g, out,
                                                                                       lse);
    KASMINA_LAUNCH_CHECK("attention rows_forward_kernel");
  });
}

template <class E>
void backward_rows(const AttentionDims& a, const E* dout, const E* qkv, const float* lse, E* dqkv,
                   Device dev, cudaStream_t stream) {
  const RowGeom g = geom_of(a);
  const size_t bytes = backward_bytes(g);
  dispatch(g, [&](auto dh, auto split) {
    auto* kernel = rows_backward_kernel<decltype(dh)::value, decltype(split)::value, E>;
    kernels::attention::prepare_launch(
        kernel, [&](int) { return bytes; }, dev, "attention_backward");
    kernel<<<static_cast<unsigned>(a.batch * a.heads), threads_of(g), bytes, stream>>>(
        dout, qkv, lse, g, dqkv);
    KASMINA_LAUNCH_CHECK("attention rows_backward_kernel");
  });
}

}  // namespace

bool backward_fits(const AttentionDims& a, Device dev) {
  return backward_bytes(geom_of(a)) <= smem_optin(dev);
}

void forward(const AttentionDims& a, const float* qkv, float* out, float* lse, Device dev,
             cudaStream_t stream) {
  forward_rows(a, qkv, out, lse, dev, stream);
}

void forward(const AttentionDims& a, const bf16* qkv, bf16* out, float* lse, Device dev,
             cudaStream_t stream) {
  forward_rows(a, qkv, out, lse, dev, stream);
}

void backward(const AttentionDims& a, const float* dout, const float* qkv, const float* lse,
              float* dqkv, Device dev, cudaStream_t stream) {
  backward_rows(a, dout, qkv, lse, dqkv, dev, stream);
}

void backward(const AttentionDims& a, const bf16* dout, const bf16* qkv, const float* lse,
              bf16* dqkv, Device dev, cudaStream_t stream) {
  backward_rows(a, dout, qkv, lse, dqkv, dev, stream);
}

}  // namespace kasmina::ops::cuda::attention_rows
