// One output tile of the fused MLP step's GEMMs (mlp_step.cu): C[m, n] = Σ_k A(m, k) B(n, k) over
// a range of k, for a 32 x 32 tile, by a block of 256 threads, exact float32 FMA.
//
// Operands are read from global memory through L2 (ld.global.cg: other blocks wrote them earlier
// in the same launch) in slabs of kSlab values of k. An operand whose k is contiguous in memory
// (k_major: element (i, k) at p[i * ld + k]) is kept in shared memory as [i][k], the other
// (p[k * ld + i]) as [k][i]; either way a thread reads 16-byte vectors. The next slab is loaded
// into registers while the current one is multiplied.
//
// The block's 256 threads are four k-groups of 64; each group covers the whole tile, 4 x 4
// outputs a thread, and one contiguous quarter of every slab. The groups' sums are then added in
// group order (tile_reduce). So each output is a sum in a fixed order: per group, its k in
// increasing order; then the groups 0..3; then (mlp_step.cu) the split-K partials in split order.
// Nothing depends on timing or on the grid: deterministic.
#pragma once
#include <cstdint>

#include "kernels/mlp_step_plan.cuh"

namespace kasmina::kernels::mlp {

constexpr int kThreads = 256;  // kTile (outputs per tile side), kSlab (k per shared-memory
                               // slab): mlp_step_plan.cuh
constexpr int kGroups = 4;     // k-groups per block
constexpr int kGroupK = kSlab / kGroups;           // k per group and slab
constexpr int kStrideIK = kSlab + 4;               // [i][k] row stride (floats)
constexpr int kStrideKI = kTile + 4;               // [k][i] row stride (floats)
constexpr int kOperandFloats = kSlab * kStrideKI;  // >= kTile * kStrideIK
constexpr int kTileOutputs = kTile * kTile;

// An operand: element (i, k) at p[i * ld + k] (k_major) or p[k * ld + i]; `extent` rows i exist.
struct Operand {
  const float* p;
  int64_t ld;
  int extent;
  bool k_major;
  bool vec;  // 16-byte loads allowed (ld % 4 == 0 and p 16-byte aligned)
};

__device__ __forceinline__ float load_cg(const float* p) {
  return __ldcg(p);
}
__device__ __forceinline__ float4 load_cg4(const float* p) {
  return __ldcg(reinterpret_cast<const float4*>(p));
}

// Registers of one slab of one operand: 16 floats a thread.
struct SlabRegs {
  float4 v[4];
};

// Loads the slab [k0, k0 + kSlab) of rows [i0, i0 + kTile) (zero outside [0, extent) x [k0,
// k_end)); k_major is op.k_major, given apart so that a caller can make it a constant.
__device__ __forceinline__ void load_slab(const Operand& op, bool k_major, int i0, int k0,
                                          int k_end, SlabRegs& r) {
  const int t = threadIdx.x;
  for (int q = 0; q < 4; ++q) {
    float e[4];
    if (k_major) {  // thread: row i0 + t/8, k = k0 + (t%8)*4 + 32q .. +3
      const int i = i0 + t / 8, k = k0 + (t % 8) * 4 + 32 * q;
      const float* src = op.p + static_cast<int64_t>(i) * op.ld + k;
      if (op.vec && i < op.extent && k + 3 < k_end) {
        const float4 v = load_cg4(src);
        e[0] = v.x, e[1] = v.y, e[2] = v.z, e[3] = v.w;
      } else {
        for (int j = 0; j < 4; ++j) e[j] = i < op.extent && k + j < k_end ? load_cg(src + j) : 0.0f;
      }
    } else {  // thread: rows i0 + (t%8)*4 .. +3, k = k0 + t/8 + 32q
      const int i = i0 + (t % 8) * 4, k = k0 + t / 8 + 32 * q;
      const float* src = op.p + static_cast<int64_t>(k) * op.ld + i;
      if (op.vec && k < k_end && i + 3 < op.extent) {
        const float4 v = load_cg4(src);
        e[0] = v.x, e[1] = v.y, e[2] = v.z, e[3] = v.w;
      } else {
        for (int j = 0; j < 4; ++j) e[j] = k < k_end && i + j < op.extent ? load_cg(src + j) : 0.0f;
      }
    }
    r.v[q] = make_float4(e[0], e[1], e[2], e[3]);
  }
}

__device__ __forceinline__ void store_slab(bool k_major, const SlabRegs& r, float* s) {
  const int t = threadIdx.x;
  for (int q = 0; q < 4; ++q) {
    const int at = k_major ? (t / 8) * kStrideIK + (t % 8) * 4 + 32 * q
                           : (t / 8 + 32 * q) * kStrideKI + (t % 8) * 4;
    *reinterpret_cast<float4*>(s + at) = r.v[q];
  }
}

// The tile row (or column) of this thread's output r (0..3) within the tile: strided for a
// [i][k] operand (conflict-free reads of consecutive rows), contiguous for [k][i].
__device__ __forceinline__ int fragment_index(bool k_major, int lane_pos, int r) {
  return k_major ? lane_pos + 8 * r : 4 * lane_pos + r;
}

// f[r][kk]: the thread's 4 rows at k = kk0 .. kk0 + 3 of the slab in shared memory.
__device__ __forceinline__ void read_fragment(bool k_major, const float* s, int lane_pos, int kk0,
                                              float (&f)[4][4]) {
  if (k_major) {
    for (int r = 0; r < 4; ++r) {
      const float4 v =
          *reinterpret_cast<const float4*>(s + fragment_index(true, lane_pos, r) * kStrideIK + kk0);
      f[r][0] = v.x, f[r][1] = v.y, f[r][2] = v.z, f[r][3] = v.w;
    }
  } else {
    for (int kk = 0; kk < 4; ++kk) {
      const float4 v = *reinterpret_cast<const float4*>(s + (kk0 + kk) * kStrideKI + 4 * lane_pos);
      f[0][kk] = v.x, f[1][kk] = v.y, f[2][kk] = v.z, f[3][kk] = v.w;
    }
  }
}

// Shared memory of a block: the two operand slabs, reused after the product for the groups'
// partial tiles (kGroups x kTileOutputs) and partial row sums (kGroups x kTile).
struct alignas(16) TileShared {
  float a[kOperandFloats];
  float b[kOperandFloats];
};
static_assert(2 * kOperandFloats >= kGroups * (kTileOutputs + kTile), "reduction buffer");

// tile_product with the operands' layouts (A's and B's k_major) as constants.
template <bool AK, bool BK>
__device__ __forceinline__ void tile_product_as(const Operand& A, const Operand& B, int m0, int n0,
                                                int k_begin, int k_end, bool row_sums,
                                                TileShared& sh, float (&acc)[4][4],
                                                float (&rsum)[4]) {
  const int t = threadIdx.x, g = t / 64, tx = t % 8, ty = (t % 64) / 8;
  for (int i = 0; i < 4; ++i) {
    rsum[i] = 0.0f;
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  }
  SlabRegs ra, rb;
  load_slab(A, AK, m0, k_begin, k_end, ra);
  load_slab(B, BK, n0, k_begin, k_end, rb);
  for (int k0 = k_begin; k0 < k_end; k0 += kSlab) {
    __syncthreads();  // the previous slab's readers are done
    store_slab(AK, ra, sh.a);
    store_slab(BK, rb, sh.b);
    __syncthreads();
    if (k0 + kSlab < k_end) {
      load_slab(A, AK, m0, k0 + kSlab, k_end, ra);
      load_slab(B, BK, n0, k0 + kSlab, k_end, rb);
    }
    // Not unrolled: each pair of layouts has a copy of this loop, and a launch after an L2
    // overwrite fetches the copies it runs from memory; rolled, the step measured faster cold and
    // steady alike (bench/RESULTS.md, thirty-ninth session).
#pragma unroll 1
    for (int kk0 = g * kGroupK; kk0 < (g + 1) * kGroupK; kk0 += 4) {
      float fa[4][4], fb[4][4];
      read_fragment(AK, sh.a, ty, kk0, fa);
      read_fragment(BK, sh.b, tx, kk0, fb);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(fa[i][kk], fb[j][kk], acc[i][j]);
        }
      }
      if (row_sums && tx == 0) {
        for (int kk = 0; kk < 4; ++kk)
          for (int i = 0; i < 4; ++i) rsum[i] += fa[i][kk];
      }
    }
  }
}

// The thread's 4 x 4 sums over [k_begin, k_end) of tile (m0, n0); with row_sums, the threads of
// tile column 0 also sum A's rows (Σ_k A(m, k), for a bias gradient) into rsum. One loop per
// pair of layouts: with the layouts as run-time values, the loop carried both kinds of fragment
// reads (predicated) and the register moves of the transposed one, half its instructions.
__device__ __forceinline__ void tile_product(const Operand& A, const Operand& B, int m0, int n0,
                                             int k_begin, int k_end, bool row_sums, TileShared& sh,
                                             float (&acc)[4][4], float (&rsum)[4]) {
  if (A.k_major && B.k_major)
    tile_product_as<true, true>(A, B, m0, n0, k_begin, k_end, row_sums, sh, acc, rsum);
  else if (A.k_major)
    tile_product_as<true, false>(A, B, m0, n0, k_begin, k_end, row_sums, sh, acc, rsum);
  else if (B.k_major)
    tile_product_as<false, true>(A, B, m0, n0, k_begin, k_end, row_sums, sh, acc, rsum);
  else
    tile_product_as<false, false>(A, B, m0, n0, k_begin, k_end, row_sums, sh, acc, rsum);
}

// Adds the four groups' tiles in group order: afterwards sh.a[e] (e = ml * kTile + nl) holds the
// block's sum of output (m0 + ml, n0 + nl), and sh.a[kTileOutputs + ml] the row sums.
__device__ __forceinline__ void tile_reduce(bool a_k_major, bool b_k_major, bool row_sums,
                                            const float (&acc)[4][4], const float (&rsum)[4],
                                            TileShared& sh) {
  const int t = threadIdx.x, g = t / 64, tx = t % 8, ty = (t % 64) / 8;
  float* red = sh.a;  // kGroups x (kTileOutputs + kTile), spilling into sh.b
  __syncthreads();    // every group is done reading the last slab
  float* mine = red + g * (kTileOutputs + kTile);
  for (int i = 0; i < 4; ++i) {
    const int ml = fragment_index(a_k_major, ty, i);
    for (int j = 0; j < 4; ++j) mine[ml * kTile + fragment_index(b_k_major, tx, j)] = acc[i][j];
    if (row_sums && tx == 0) mine[kTileOutputs + ml] = rsum[i];
  }
  __syncthreads();
  constexpr int kSpan = kTileOutputs + kTile;
  float out[(kSpan + kThreads - 1) / kThreads];
  int n = 0;
  for (int e = t; e < kSpan; e += kThreads, ++n) {
    float v = red[e];
    for (int q = 1; q < kGroups; ++q) v += red[q * kSpan + e];
    out[n] = v;
  }
  __syncthreads();
  n = 0;
  for (int e = t; e < kSpan; e += kThreads, ++n) red[e] = out[n];
  __syncthreads();
}

}  // namespace kasmina::kernels::mlp
