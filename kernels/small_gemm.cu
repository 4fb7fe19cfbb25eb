// The own small GEMM (src/ops/cuda/small_gemm.hpp). Block: 256 threads as 16 x 16; thread
// (ty, tx) owns outputs (ty + 16 r, tx + 16 c), r < RM, c < RN, of a TM x TN tile. The reduction
// dimension goes through shared memory in slices of TK: the next slice is loaded into registers
// while the current one is multiplied. Loads are coalesced along whichever of A's (B's) two
// dimensions is contiguous; out-of-range elements load as zero, so edge tiles need no special
// case in the inner loop.
//
// Epilogues: bias + ReLU with cuBLASLt's bit mask (one warp ballot per 16 columns of two rows:
// whole 16-bit words, no two threads write the same mask byte); the ReLU derivative from the
// mask; the bias gradient of the input's layer (column sums over all rows: per-tile partials in
// the scratch buffer, the last tile of a column, by ticket, adds them in row-tile order); the
// bias gradient of a weight gradient (row sums of A, by the blocks of the first column tile).
// Every sum has a fixed order: bitwise reproducible.
#include <algorithm>

#include "kernels/activation_math.cuh"
#include "kernels/batched_sum.cuh"
#include "kernels/last_block.cuh"
#include "kernels/pdl.cuh"
#include "kernels/warp_reduce.cuh"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/small_gemm.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kSide = 16;  // threads per tile side

template <int RM, int RN>
struct Tile {
  static constexpr int M = kSide * RM, N = kSide * RN;
  static constexpr int K = 2048 / (M > N ? M : N);  // 16 KB of operands per slice
  static constexpr int kLoadsA = M * K / kThreads, kLoadsB = K * N / kThreads;
};

// One operand's slice: element e of the slice is (o, l) with o along the tile's side (rows of
// A, columns of B) and l along the reduction, consecutive threads on the operand's contiguous
// dimension (l when stride_l == 1, o otherwise).
template <int Side, int K>
__device__ __forceinline__ void slice_element(int e, bool l_inner, int& o, int& l) {
  o = l_inner ? e / K : e % Side;
  l = l_inner ? e % K : e / Side;
}

template <int Side, int K, int Loads>
__device__ __forceinline__ void load_slice(const float* __restrict__ p, int64_t stride_o,
                                           int64_t stride_l, int64_t o0, int64_t extent, int64_t l0,
                                           int64_t depth, float (&r)[Loads]) {
  const bool l_inner = stride_l == 1;
#pragma unroll
  for (int q = 0; q < Loads; ++q) {
    int o, l;
    slice_element<Side, K>(static_cast<int>(threadIdx.x) + q * kThreads, l_inner, o, l);
    r[q] = o0 + o < extent && l0 + l < depth ? __ldg(p + (o0 + o) * stride_o + (l0 + l) * stride_l)
                                             : 0.0f;
  }
}

template <int Side, int K, int Loads>
__device__ __forceinline__ void store_slice(bool l_inner, const float (&r)[Loads],
                                            float (&smem)[K][Side + 1]) {
#pragma unroll
  for (int q = 0; q < Loads; ++q) {
    int o, l;
    slice_element<Side, K>(static_cast<int>(threadIdx.x) + q * kThreads, l_inner, o, l);
    smem[l][o] = r[q];
  }
}

// out[c] (valid in the threads of row ty = 0) = Σ over the 16 thread rows, in order, of v[c] of
// the thread (row, tx): column tx + 16 c of the tile. Uses `scratch` (16 x 16 RN floats).
template <int RN>
__device__ __forceinline__ void sum_thread_rows(const float (&v)[RN],
                                                float (&scratch)[kSide][kSide * RN],
                                                float (&out)[RN]) {
  const int tx = static_cast<int>(threadIdx.x) % kSide, ty = static_cast<int>(threadIdx.x) / kSide;
  __syncthreads();  // earlier readers of scratch are done
#pragma unroll
  for (int c = 0; c < RN; ++c) scratch[ty][tx + kSide * c] = v[c];
  __syncthreads();
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    out[c] = 0.0f;
    if (ty == 0)
      for (int y = 0; y < kSide; ++y) out[c] += scratch[y][tx + kSide * c];
  }
}

// Split-K: every block stores its partial tile in the scratch buffer ([split][I][J]); the last
// block of the tile (ticket per tile) adds the partials in split order into acc and returns
// true; the others return false. Fixed order: the sum does not depend on which block is last.
template <int RM, int RN>
__device__ bool reduce_splits(const SmallGemm& g, int64_t i0, int64_t j0, float* partials,
                              unsigned int* tickets, float (&acc)[RM][RN]) {
  const int tx = static_cast<int>(threadIdx.x) % kSide, ty = static_cast<int>(threadIdx.x) / kSide;
  const int64_t plane = g.I * g.J;
  auto each = [&](auto&& fn) {
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < RN; ++c) {
        const int64_t i = i0 + ty + kSide * r, j = j0 + tx + kSide * c;
        if (i < g.I && j < g.J) fn(acc[r][c], i * g.J + j);
      }
  };
  each([&](float v, int64_t at) { partials[blockIdx.z * plane + at] = v; });
  const unsigned tile = blockIdx.y * gridDim.x + blockIdx.x;
  if (!kernels::last_block(tickets + tile, gridDim.z)) return false;
  each([&](float& v, int64_t at) {
    v = kernels::batched_sum<8>(0.0f, 0, static_cast<int>(gridDim.z), 1,
                                [&](int z) { return __ldcg(partials + z * plane + at); });
  });
  if (threadIdx.x == 0) tickets[tile] = 0u;
  return true;
}

template <int RM, int RN>
__global__ void __launch_bounds__(kThreads)
    small_gemm_kernel(SmallGemm g, float* __restrict__ partials, unsigned int* tickets) {
  using T = Tile<RM, RN>;
  __shared__ float as[T::K][T::M + 1];
  __shared__ float bs[T::K][T::N + 1];
  __shared__ float col_part[kSide][T::N];
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();

  const int t = threadIdx.x, tx = t % kSide, ty = t / kSide;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * T::M;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * T::N;
  // Split-K: this block's part of the reduction, whole slices of TK (the last parts may be empty).
  const int64_t per_split = (g.L + T::K * gridDim.z - 1) / (T::K * gridDim.z) * T::K;
  const int64_t l_begin = blockIdx.z * per_split;
  const int64_t l_end = l_begin + per_split < g.L ? l_begin + per_split : g.L;
  float ra[T::kLoadsA], rb[T::kLoadsB];
  auto load = [&](int64_t l0) {
    load_slice<T::M, T::K>(g.a, g.a_i, g.a_l, i0, g.I, l0, l_end, ra);
    load_slice<T::N, T::K>(g.b, g.b_j, g.b_l, j0, g.J, l0, l_end, rb);
  };
  auto store = [&] {
    store_slice<T::M, T::K>(g.a_l == 1, ra, as);
    store_slice<T::N, T::K>(g.b_l == 1, rb, bs);
  };

  float acc[RM][RN] = {};
  float rs[RM] = {};  // row sums of A (backward_weight's bias gradient)
  const bool row_sums = g.row_sums != nullptr && blockIdx.x == 0;
  const int64_t slices = l_end > l_begin ? (l_end - l_begin + T::K - 1) / T::K : 0;
  load(l_begin);
  for (int64_t s = 0; s < slices; ++s) {
    store();
    __syncthreads();
    if (s + 1 < slices) load(l_begin + (s + 1) * T::K);
#pragma unroll 8
    for (int l = 0; l < T::K; ++l) {
      float av[RM], bv[RN];
#pragma unroll
      for (int r = 0; r < RM; ++r) av[r] = as[l][ty + kSide * r];
#pragma unroll
      for (int c = 0; c < RN; ++c) bv[c] = bs[l][tx + kSide * c];
#pragma unroll
      for (int r = 0; r < RM; ++r)
#pragma unroll
        for (int c = 0; c < RN; ++c) acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);
    }
    if (row_sums) {
#pragma unroll
      for (int r = 0; r < RM; ++r)
        for (int l = tx; l < T::K; l += kSide) rs[r] += as[l][ty + kSide * r];
    }
    __syncthreads();
  }

  if (gridDim.z > 1 && !reduce_splits<RM, RN>(g, i0, j0, partials, tickets, acc)) return;

  const bool relu = g.act == Activation::relu;
  const auto* mask = static_cast<const uint8_t*>(g.aux);
  float cs[RN] = {};  // this thread's column sums (backward_input's bias gradient)
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const int64_t i = i0 + ty + kSide * r;
#pragma unroll
    for (int c = 0; c < RN; ++c) {
      const int64_t j = j0 + tx + kSide * c;
      const bool inside = i < g.I && j < g.J;
      float v = acc[r][c];
      if (g.kind == LinearGemm::forward) {
        if (g.bias && j < g.J) v += g.bias[j];
        const bool positive = inside && v > 0.0f;
        if (relu) {
          v = positive ? v : 0.0f;
          // Lanes 0-15 hold 16 columns of row ty (even), lanes 16-31 of row ty + 1.
          const unsigned bits = __ballot_sync(kernels::kFullMask, positive);
          if (tx == 0 && i < g.I) {
            const auto word = static_cast<uint16_t>(ty % 2 == 0 ? bits & 0xffffu : bits >> 16);
            auto* out = static_cast<uint8_t*>(g.aux) + (i * g.aux_ld + j0 + kSide * c) / 8;
            *reinterpret_cast<uint16_t*>(out) = word;
          }
        }
      } else if (g.kind == LinearGemm::backward_input && relu) {
        v = inside && kernels::relu_mask_bit(mask, g.aux_ld, i, j) ? v : 0.0f;
      }
      if (inside) g.c[i * g.J + j] = v;
      cs[c] += inside ? v : 0.0f;
    }
  }

  if (row_sums) {
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      float v = rs[r];
      for (int o = kSide / 2; o > 0; o >>= 1) v += __shfl_xor_sync(kernels::kFullMask, v, o);
      const int64_t i = i0 + ty + kSide * r;
      if (tx == 0 && i < g.I) g.row_sums[i] = v;
    }
  }
  if (g.col_sums == nullptr) return;
  // Column sums: this tile's rows (ty order), then the row tiles' partials (strided over the
  // 16 thread rows, then ty order). Fixed orders: the result does not depend on which block is
  // last.
  float tile_sum[RN];
  sum_thread_rows<RN>(cs, col_part, tile_sum);
  const bool single = gridDim.y == 1;
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    const int64_t j = j0 + tx + kSide * c;
    if (ty != 0 || j >= g.J) continue;
    if (single) {
      g.col_sums[j] = tile_sum[c];
    } else {
      partials[static_cast<int64_t>(blockIdx.y) * g.J + j] = tile_sum[c];
    }
  }
  if (single) return;
  if (!kernels::last_block(tickets + blockIdx.x, gridDim.y)) return;
  float strided[RN];
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    const int64_t j = j0 + tx + kSide * c;
    strided[c] = 0.0f;
    if (j < g.J)
      strided[c] = kernels::batched_sum<8>(
          0.0f, ty, static_cast<int>(gridDim.y), kSide,
          [&](int y) { return __ldcg(partials + static_cast<int64_t>(y) * g.J + j); });
  }
  float total[RN];
  sum_thread_rows<RN>(strided, col_part, total);
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    const int64_t j = j0 + tx + kSide * c;
    if (ty == 0 && j < g.J) g.col_sums[j] = total[c];
  }
  if (t == 0) tickets[blockIdx.x] = 0u;
}

// A launch configuration: tile (RM x RN outputs a thread) and split-K count.
struct Plan {
  int rm = 1;
  int64_t splits = 1;
  double cost = 0.0;
};

// Estimated SM cycles of a configuration. Shared-memory reads bound these kernels: a block
// reads RM + RN wavefronts per warp (8 warps) and reduction step, 2048 per slice of K for every
// tile (16 KB slices), which also covers the next slice's load (~800 cycles from L2 or memory)
// when a slice takes longer than that. Split-K adds the last block's round trips and its reads
// of the partial tiles (64 bytes a cycle).
template <int RM, int RN>
Plan plan_for(const SmallGemm& g, int sms, bool may_split) {
  using T = Tile<RM, RN>;
  constexpr double kRoundTrip = 800.0;
  const int64_t blocks = ceil_div(g.I, T::M) * ceil_div(g.J, T::N);
  const int64_t slices_total = ceil_div(g.L, T::K);
  Plan p;
  p.rm = RM;
  if (may_split && blocks < sms && blocks <= kOwnGemmMaxColumnTiles)
    p.splits = std::max<int64_t>(1, std::min<int64_t>({sms / blocks, slices_total, 16}));
  const int64_t slices = ceil_div(slices_total, p.splits);
  const int64_t waves = ceil_div(blocks * p.splits, sms);
  const double per_slice = 8.0 * (RM + RN) * T::K;
  p.cost = static_cast<double>(waves) *
           (static_cast<double>(slices) * std::max(per_slice, kRoundTrip) + kRoundTrip);
  if (p.splits > 1) {
    p.cost += kRoundTrip * (2.0 + static_cast<double>(ceil_div(p.splits * RM * RN, 32))) +
              static_cast<double>(T::M * T::N * p.splits) / 16.0;
  }
  return p;
}

template <int RM, int RN>
void launch_tiles(DeviceContext& ctx, const SmallGemm& g, int64_t splits) {
  using T = Tile<RM, RN>;
  const int64_t gx = ceil_div(g.J, T::N), gy = ceil_div(g.I, T::M);
  KASMINA_CHECK(gx <= kOwnGemmMaxColumnTiles && gy <= 65535, "small_gemm: " + std::to_string(g.I) +
                                                                 " x " + std::to_string(g.J) +
                                                                 " outputs exceed the grid");
  float* partials = nullptr;
  if (splits > 1) {
    partials =
        static_cast<float*>(scratch(ctx, static_cast<size_t>(splits * g.I * g.J) * sizeof(float)));
  } else if (g.col_sums && gy > 1) {
    partials = static_cast<float*>(scratch(ctx, static_cast<size_t>(gy * g.J) * sizeof(float)));
  }
  launch_pdl(
      ctx, small_gemm_kernel<RM, RN>,
      dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(splits)),
      dim3(kThreads), "small_gemm_kernel", g, partials, ctx.tickets + kTicketSmallGemm);
}

}  // namespace

void launch_small_gemm(DeviceContext& ctx, SmallGemm g) {
  KASMINA_CHECK(g.I > 0 && g.J > 0 && g.L > 0, "small_gemm: empty problem");
  KASMINA_CHECK(g.act == Activation::none || g.act == Activation::relu,
                "small_gemm: activation must be none or relu");
  KASMINA_CHECK(g.act == Activation::none || g.aux != nullptr, "small_gemm: ReLU mask missing");
  // The bias-gradient reductions need every row of a column (or all of K) in one block: no
  // split-K for them. Larger tiles read shared memory less per multiply-add; split-K gives a
  // small grid the SMs back. The cheapest estimate wins (ties: the larger tile).
  const bool may_split = g.col_sums == nullptr && g.row_sums == nullptr;
  Plan best = plan_for<4, 4>(g, ctx.sms, may_split);
  for (const Plan& p :
       {plan_for<2, 2>(g, ctx.sms, may_split), plan_for<1, 1>(g, ctx.sms, may_split)})
    if (p.cost < best.cost) best = p;
  if (best.rm == 4) return launch_tiles<4, 4>(ctx, g, best.splits);
  if (best.rm == 2) return launch_tiles<2, 2>(ctx, g, best.splits);
  launch_tiles<1, 1>(ctx, g, best.splits);
}

}  // namespace kasmina::ops::cuda
