// Pieces shared by the attention kernels (attention.cu): the launch geometry, staging one head's
// rows into shared memory, and the two register-blocked inner loops (dot products of kRows
// vectors with every staged row; weighted sums of the staged rows for kRows weight vectors).
// Layout of qkv: src/ops/transformer_ops.hpp.
//
// Shared-memory rows are padded: a row holds dh4 = ⌈dh/4⌉·4 values (zeros past dh) in a pitch of
// `stride` floats with stride/4 odd, so the 16-byte loads of 8 lanes reading 8 different rows
// hit 8 different bank groups; there are t4 = ⌈T/4⌉·4 rows (zeros past T), so weight vectors are
// read four at a time. Zero padding keeps every padded product exactly 0.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "core/tensor.hpp"
#include "kernels/vector_io.cuh"
#include "ops/cuda/cuda_common.hpp"
#include "ops/transformer/transformer_checks.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina::kernels::attention {

constexpr int kMaxWarps = 8;
constexpr int kRows = 4;            // rows a warp handles at once (registers reuse each K/V load)
constexpr int kRowsPerBlock = 64;   // rows (query or key) per block: grid (B·heads, ⌈T/64⌉)
constexpr int kMaxDimsPerLane = 2;  // dh <= 64: a lane owns output columns lane and lane + 32
static_assert(ops::kAttentionMaxHeadDim <= 32 * kMaxDimsPerLane, "dh per lane");

struct Geom {
  int tokens, t4, width, heads, head_dim, dh4;
  int stride;  // shared-memory row pitch in floats: a multiple of 4 with stride / 4 odd
  float scale;
};

inline int round_up4(int v) {
  return (v + 3) / 4 * 4;
}

inline Geom geom_of(const ops::AttentionDims& a) {
  const int dh = static_cast<int>(a.head_dim), dh4 = round_up4(dh);
  const int quads = dh4 / 4;
  return {static_cast<int>(a.tokens),
          round_up4(static_cast<int>(a.tokens)),
          static_cast<int>(a.width),
          static_cast<int>(a.heads),
          dh,
          dh4,
          4 * (quads % 2 == 1 ? quads : quads + 1),
          1.0f / sqrtf(static_cast<float>(dh))};
}

// Scores per lane: lane l owns rows l, l + 32, ... (KPL of them); t4 <= 32·KPL.
inline int keys_per_lane(int tokens) {
  return tokens <= 32 ? 1 : tokens <= 64 ? 2 : tokens <= 128 ? 4 : 8;
}
static_assert(ops::kAttentionMaxTokens <= 32 * 8, "at most 8 scores per lane");

// Calls f(std::integral_constant<int, KPL>) for the tokens' keys per lane.
template <class F>
void with_keys_per_lane(int tokens, F&& f) {
  switch (keys_per_lane(tokens)) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    default:
      return f(std::integral_constant<int, 8>{});
  }
}

// dst row t (t < t4, pitch g.stride) = src[t·ld + d] · mul for t < T, d < dh; zeros in the
// padding (d < dh4). The whole block cooperates. E: float, or bf16 (widened exactly).
template <class E>
__device__ __forceinline__ void load_rows(const E* __restrict__ src, int64_t ld, const Geom& g,
                                          float mul, float* __restrict__ dst) {
  for (int idx = threadIdx.x; idx < g.t4 * g.dh4; idx += blockDim.x) {
    const int t = idx / g.dh4, d = idx - t * g.dh4;
    dst[t * g.stride + d] =
        t < g.tokens && d < g.head_dim ? kernels::load_float(src, t * ld + d) * mul : 0.0f;
  }
}

// One warp: dst[r·dh4 + d] = src[i_r·ld + d] · mul for the kRows rows i_r = min(i0 + r, last)
// (a group past the end repeats the last row; its results are not stored), zeros past dh.
template <class E>
__device__ __forceinline__ void load_warp_rows(const E* __restrict__ src, int64_t ld, int i0,
                                               int last, const Geom& g, float mul, int lane,
                                               float* __restrict__ dst) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int i = min(i0 + r, last);
    for (int d = lane; d < g.dh4; d += 32) {
      dst[r * g.dh4 + d] = d < g.head_dim ? kernels::load_float(src, i * ld + d) * mul : 0.0f;
    }
  }
}

// s[r][kk] = Σ_d a[r·dh4 + d] · rows[(lane + 32 kk)·stride + d] for the warp's kRows vectors a
// (shared, broadcast reads) and the lane's rows (rows past T repeat row T-1; the caller ignores
// them). Each 16-byte row load serves kRows vectors.
template <int KPL>
__device__ __forceinline__ void row_dots(const float* a, const float* rows, const Geom& g, int lane,
                                         float (&s)[kRows][KPL]) {
  const auto* rows4 = reinterpret_cast<const float4*>(rows);
  const auto* a4 = reinterpret_cast<const float4*>(a);
  const int quads = g.dh4 / 4, stride4 = g.stride / 4;
  int base[KPL];
#pragma unroll
  for (int kk = 0; kk < KPL; ++kk) {
    const int j = lane + 32 * kk;
    base[kk] = (j < g.tokens ? j : g.tokens - 1) * stride4;
#pragma unroll
    for (int r = 0; r < kRows; ++r) s[r][kk] = 0.0f;
  }
  for (int c = 0; c < quads; ++c) {
    float4 kv[KPL];
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) kv[kk] = rows4[base[kk] + c];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float4 x = a4[r * quads + c];
#pragma unroll
      for (int kk = 0; kk < KPL; ++kk) {
        float v = fmaf(x.x, kv[kk].x, s[r][kk]);
        v = fmaf(x.y, kv[kk].y, v);
        v = fmaf(x.z, kv[kk].z, v);
        s[r][kk] = fmaf(x.w, kv[kk].w, v);
      }
    }
  }
}

// acc[r] = Σ_{j < t4} w[r·t4 + j] · rows[j·stride + d] in ascending j, for the warp's kRows
// weight vectors w (shared, zero past T; broadcast reads) and column d.
__device__ __forceinline__ void combine_rows(const float* w, const float* rows, const Geom& g,
                                             int d, float (&acc)[kRows]) {
  const auto* w4 = reinterpret_cast<const float4*>(w);
  const int quads = g.t4 / 4;
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  for (int c = 0; c < quads; ++c) {
    const float* v = rows + 4 * c * g.stride + d;
    const float v0 = v[0], v1 = v[g.stride], v2 = v[2 * g.stride], v3 = v[3 * g.stride];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float4 p = w4[r * quads + c];
      acc[r] = fmaf(p.w, v3, fmaf(p.z, v2, fmaf(p.y, v1, fmaf(p.x, v0, acc[r]))));
    }
  }
}

// Warps per block: 8, halved while the shared memory bytes(warps) exceed what the device offers
// (only the largest T and dh on GPUs with less than ~224 KiB per block). Sets the kernel's
// dynamic shared-memory allowance when above the default 48 KiB, once per kernel, device and
// size (the plain run before a graph capture sets it). InternalError when even one warp does not
// fit.
template <class Kernel, class Bytes>
int prepare_launch(Kernel* kernel, Bytes bytes, Device dev, const char* op) {
  static std::mutex mutex;
  static std::map<std::pair<int, const void*>, size_t> allowed;
  const size_t optin = ops::cuda::smem_optin(dev);
  int warps = kMaxWarps;
  while (warps > 1 && bytes(warps) > optin) warps /= 2;
  const size_t need = bytes(warps);
  KASMINA_CHECK(need <= optin, std::string(op) + ": needs " + std::to_string(need) +
                                   " bytes of shared memory per block, the device offers " +
                                   std::to_string(optin));
  if (need > 48 * 1024) {
    const std::lock_guard<std::mutex> lock(mutex);
    size_t& done = allowed[{dev.index, reinterpret_cast<const void*>(kernel)}];
    if (need > done) {
      KASMINA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(need)));
      done = need;
    }
  }
  return warps;
}

}  // namespace kasmina::kernels::attention
