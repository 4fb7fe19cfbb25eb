// Pieces shared by the attention kernels (attention.cu): the launch geometry, loading one head's
// rows into shared memory, per-lane dot products against those rows, and the shared-memory
// opt-in for large T and dh. Layout of qkv: src/ops/transformer_ops.hpp.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "core/tensor.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/transformer/transformer_checks.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina::kernels::attention {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerBlock = 64;   // rows (query or key) per block: grid (B·heads, ⌈T/64⌉)
constexpr int kMaxDimsPerLane = 2;  // dh <= 64: a lane owns output columns lane and lane + 32
static_assert(ops::kAttentionMaxHeadDim <= 32 * kMaxDimsPerLane, "dh per lane");

struct Geom {
  int tokens, width, heads, head_dim;
  int stride;  // shared-memory row pitch: odd, so lanes reading one column of 32 rows hit 32 banks
  float scale;
};

inline Geom geom_of(const ops::AttentionDims& a) {
  const int dh = static_cast<int>(a.head_dim);
  return {static_cast<int>(a.tokens),
          static_cast<int>(a.width),
          static_cast<int>(a.heads),
          dh,
          dh | 1,
          1.0f / sqrtf(static_cast<float>(dh))};
}

// Scores per lane: lane l owns rows l, l + 32, ... (KPL of them); T <= 32·KPL.
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

// dst[t·stride + d] = src[t·ld + d] · mul for t < rows, d < dh (the whole block cooperates).
__device__ __forceinline__ void load_rows(const float* __restrict__ src, int64_t ld, int rows,
                                          int dh, int stride, float mul, float* __restrict__ dst) {
  for (int idx = threadIdx.x; idx < rows * dh; idx += blockDim.x) {
    const int t = idx / dh, d = idx - t * dh;
    dst[t * stride + d] = src[t * ld + d] * mul;
  }
}

// s[kk] = Σ_d a[d] · rows[(lane + 32 kk)·stride + d]; rows past T repeat row T-1 (the caller
// ignores them).
template <int KPL>
__device__ __forceinline__ void row_dots(const float* a, const float* rows, const Geom& g, int lane,
                                         float (&s)[KPL]) {
  int base[KPL];
#pragma unroll
  for (int kk = 0; kk < KPL; ++kk) {
    const int j = lane + 32 * kk;
    base[kk] = (j < g.tokens ? j : g.tokens - 1) * g.stride;
    s[kk] = 0.0f;
  }
  for (int d = 0; d < g.head_dim; ++d) {
    const float x = a[d];
#pragma unroll
    for (int kk = 0; kk < KPL; ++kk) s[kk] = fmaf(x, rows[base[kk] + d], s[kk]);
  }
}

// Σ_j w[j] · rows[j·stride + d] over j < T, in ascending j.
__device__ __forceinline__ float combine_rows(const float* w, const float* rows, const Geom& g,
                                              int d) {
  float acc = 0.0f;
  for (int j = 0; j < g.tokens; ++j) acc = fmaf(w[j], rows[j * g.stride + d], acc);
  return acc;
}

// Allows `kernel` `bytes` of dynamic shared memory (above the default 48 KiB when T and dh are
// large); an InternalError when the device offers less. The attribute is set once per kernel,
// device and size (outside any graph capture, since the plain run before a capture sets it).
template <class Kernel>
void allow_shared_memory(Kernel* kernel, size_t bytes, Device dev, const char* op) {
  if (bytes <= 48 * 1024) return;
  static std::mutex mutex;
  static std::map<std::pair<int, const void*>, size_t> allowed;
  const std::lock_guard<std::mutex> lock(mutex);
  size_t& done = allowed[{dev.index, reinterpret_cast<const void*>(kernel)}];
  if (bytes <= done) return;
  int optin = 0;
  KASMINA_CUDA_CHECK(
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev.index));
  KASMINA_CHECK(bytes <= static_cast<size_t>(optin),
                std::string(op) + ": needs " + std::to_string(bytes) +
                    " bytes of shared memory per block, the device offers " +
                    std::to_string(optin));
  KASMINA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(bytes)));
  done = bytes;
}

}  // namespace kasmina::kernels::attention
