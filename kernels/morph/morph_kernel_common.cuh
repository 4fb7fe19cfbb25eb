// Helpers shared by the morph kernels: row loads/stores of a seed's chunk (float32 or bf16;
// 16-byte vectors when the chunk width and the pointers allow it), the dispatch of the compile-time
// chunk bound and the seeds of the per-seed kernels.
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>

#include "core/bf16.hpp"
#include "morph/blueprint.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda::morph_kernels {

// Loads C floats of one row chunk into registers (CMAX >= C).
template <int CMAX>
__device__ __forceinline__ void load_chunk(const float* __restrict__ src, int32_t C, bool vec,
                                           float (&v)[CMAX]) {
  if (vec) {
    const float4* s4 = reinterpret_cast<const float4*>(src);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; c += 4) {
      if (c < C) {
        const float4 q = __ldg(s4 + c / 4);
        v[c] = q.x;
        if (c + 1 < CMAX) v[c + 1] = q.y;
        if (c + 2 < CMAX) v[c + 2] = q.z;
        if (c + 3 < CMAX) v[c + 3] = q.w;
      }
    }
  } else {
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) v[c] = __ldg(src + c);
  }
}

template <int CMAX>
__device__ __forceinline__ void store_chunk(float* __restrict__ dst, int32_t C, bool vec,
                                            const float (&v)[CMAX]) {
  if (vec) {
    float4* d4 = reinterpret_cast<float4*>(dst);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; c += 4) {
      if (c < C) {
        float4 q;
        q.x = v[c];
        q.y = c + 1 < CMAX ? v[c + 1] : 0.0f;
        q.z = c + 2 < CMAX ? v[c + 2] : 0.0f;
        q.w = c + 3 < CMAX ? v[c + 3] : 0.0f;
        d4[c / 4] = q;
      }
    }
  } else {
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) dst[c] = v[c];
  }
}

// bf16 chunks (the forward of bf16 activations): C values widened to float32 (exact), and
// float32 values rounded to bf16 once on the store (core/bf16.hpp, as the CPU twin rounds).
// vec: 8 values per 16-byte access (C % 8 == 0, 16-byte aligned).
template <int CMAX>
__device__ __forceinline__ void load_chunk(const bf16* __restrict__ src, int32_t C, bool vec,
                                           float (&v)[CMAX]) {
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(src);
  if (vec) {
    const uint4* s8 = reinterpret_cast<const uint4*>(bits);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; c += 8) {
      if (c < C) {
        const uint4 q = __ldg(s8 + c / 8);
        const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          if (c + 2 * j < CMAX) v[c + 2 * j] = bf16x2_low(w[j]);
          if (c + 2 * j + 1 < CMAX) v[c + 2 * j + 1] = bf16x2_high(w[j]);
        }
      }
    }
  } else {
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) v[c] = bf16_bits_to_float(__ldg(bits + c));
  }
}

template <int CMAX>
__device__ __forceinline__ void store_chunk(bf16* __restrict__ dst, int32_t C, bool vec,
                                            const float (&v)[CMAX]) {
  uint16_t* bits = reinterpret_cast<uint16_t*>(dst);
  if (vec) {
    uint4* d8 = reinterpret_cast<uint4*>(bits);
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; c += 8) {
      if (c < C) {
        uint32_t w[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const uint16_t lo = c + 2 * j < CMAX ? float_to_bf16_bits(v[c + 2 * j]) : uint16_t{0};
          const uint16_t hi =
              c + 2 * j + 1 < CMAX ? float_to_bf16_bits(v[c + 2 * j + 1]) : uint16_t{0};
          w[j] = bf16x2_pack(lo, hi);
        }
        d8[c / 8] = make_uint4(w[0], w[1], w[2], w[3]);
      }
    }
  } else {
    KASMINA_MORPH_UNROLL
    for (int c = 0; c < CMAX; ++c)
      if (c < C) bits[c] = float_to_bf16_bits(v[c]);
  }
}

// Copies the P parameters of a blueprint into shared memory, thread t taking t, t + T, ...
// (T = threads taking part); the caller synchronises before reading them.
__device__ __forceinline__ void stage_params(const float* __restrict__ src, int32_t P,
                                             float* __restrict__ smem, int t, int T) {
  for (int32_t i = t; i < P; i += T) smem[i] = src[i];
}

// Per-seed kernels: a block of kSeedThreads threads takes whole seeds (all rows). The seeds with
// work are found through the blueprint pool's slot table instead of a scan of the seed state:
// only a seed that is not DORMANT can have work, and every such seed owns exactly one pool slot
// (owner[slot[s]] == s; morph/seed_state_check.hpp refuses a state that breaks it), so block b
// takes the slots b, b + gridDim.x, ... and reads each slot's owner: one load before it knows
// its seed, where a scan read the state of every seed and ran a block-wide prefix sum.
inline constexpr int kSeedThreads = 256;

// Calls body(s, slot), uniformly across the block, for each slot of this block whose owner s
// has has_work(s) (every thread reads the same owner and state); body may synchronise the block.
// The assignment depends only on the slot table and the grid: deterministic.
template <class Pred, class Body>
__device__ void for_each_slot_seed(const int32_t* __restrict__ owner, int32_t slots, Pred has_work,
                                   Body body) {
  for (int32_t slot = static_cast<int32_t>(blockIdx.x); slot < slots;
       slot += static_cast<int32_t>(gridDim.x)) {
    const int32_t s = owner[slot];
    if (s >= 0 && has_work(s)) body(s, slot);
  }
}

// Blocks for a per-seed kernel: no more than the seeds, the pool slots (seeds with parameters)
// or two per SM.
inline unsigned seed_kernel_blocks(int32_t seeds, int32_t pool_slots, int sms) {
  int64_t n = std::min<int64_t>(seeds, std::max<int32_t>(pool_slots, 1));
  n = std::min<int64_t>(n, 2 * static_cast<int64_t>(sms));
  return static_cast<unsigned>(std::max<int64_t>(n, 1));
}

// Launches kernel on `stream` as a programmatic dependent of the kernel queued before it
// (Hopper; the device-side calls are compiled for sm_90 and later only): it may start as soon as
// every block of that kernel has started or called cudaTriggerProgrammaticLaunchCompletion. A
// dependent that reads what its predecessor writes calls cudaGridDependencySynchronize first; one
// that does not must still not complete before it (complete_after_predecessor), so that later work
// on the stream finds both done.
template <class... P, class... A>
void launch_programmatic(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                         cudaStream_t stream, A&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  KASMINA_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...));
}

// The end of a kernel launched beside its predecessor without reading its results: the grid's
// first block (of a 1-, 2- or 3-D grid) waits for the predecessor's grid, so that this grid
// completes after it; one waiting block is enough, and the others leave without holding an SM.
__device__ __forceinline__ void complete_after_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if ((blockIdx.x | blockIdx.y | blockIdx.z) == 0) cudaGridDependencySynchronize();
#endif
}

inline bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// Whether a layer of this shape runs in the wide instantiation (chunk bound kMaxChunk, hidden
// bound kMaxHidden): chunks wider than kRowChunk or a hidden width / rank above kRowHidden. Its
// rows and parameter gradients do not fit in registers (they spill to local memory) and its
// shared memory may exceed the default 48 KB (opt_in_smem). Every other shape runs in the row
// instantiations, the ones every benchmark uses.
inline bool wide_instantiation(const morph::BlueprintShape& sh) {
  return sh.chunk > morph::kRowChunk || std::max(sh.hidden, sh.rank) > morph::kRowHidden;
}

// The largest hidden width / rank an instantiation for chunk bound CMAX holds.
template <int CMAX>
constexpr int hidden_bound() {
  return CMAX <= morph::kRowChunk ? morph::kRowHidden : morph::kMaxHidden;
}

// Calls f.template operator()<CMAX, EXACT>() with the smallest supported bound CMAX >= C and
// EXACT = (C == CMAX): a kernel instantiated with EXACT sees the chunk width as a constant (see
// exact_chunk), so its chunk loops need no bounds tests and its offsets are constants. Wide
// shapes (wide_instantiation) take CMAX = kMaxChunk, EXACT = false (one instantiation).
template <class F>
void dispatch_chunk(const morph::BlueprintShape& sh, F&& f) {
  const int32_t C = sh.chunk;
  auto go = [&]<int CMAX>() {
    if (C == CMAX) return f.template operator()<CMAX, true>();
    return f.template operator()<CMAX, false>();
  };
  static_assert(morph::kRowChunk == 64,
                "dispatch_chunk's row instantiations cover chunks up to 64");
  if (wide_instantiation(sh)) return f.template operator()<morph::kMaxChunk, false>();
  if (C <= 4) return go.template operator()<4>();
  if (C <= 8) return go.template operator()<8>();
  if (C <= 16) return go.template operator()<16>();
  if (C <= 32) return go.template operator()<32>();
  return go.template operator()<64>();
}

// Lets `kernel` use `smem` bytes of dynamic shared memory when that, with the kernel's static
// shared memory (the block reductions' storage, under kStaticSmemReserve), may pass the default
// 48 KB per block: without the opt-in, static + dynamic above 48 KB fails the launch. (The
// backward sizes its factor tile to fill a 48 KB budget, so a few hundred bytes of static
// storage decide it.)
inline constexpr size_t kStaticSmemReserve = 8 * 1024;
template <class... P>
void opt_in_smem(void (*kernel)(P...), size_t smem) {
  if (smem + kStaticSmemReserve <= 48 * 1024) return;
  KASMINA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(smem)));
}

// The blueprint shape a kernel instantiated by dispatch_chunk works with.
template <int CMAX, bool EXACT>
__device__ __forceinline__ morph::BlueprintShape exact_chunk(morph::BlueprintShape sh) {
  if constexpr (EXACT) sh.chunk = CMAX;
  return sh;
}

}  // namespace kasmina::ops::cuda::morph_kernels
