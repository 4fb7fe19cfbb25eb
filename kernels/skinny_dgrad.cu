// The input gradient of a bf16 linear layer with few outputs (the logits layer) through the ReLU
// of the layer below, in one kernel (the `pass` route of ops/gemm_route.hpp for n <= 16):
//   dx[r, c] = bf16(Σ_o dy[r, o] W[o, c]) masked by the ReLU bit of (r, c),
// and the bias gradient of the layer below as the column sums of the stored values. It computes
// what the plain GEMM into bf16 plus activation_backward_aux_bf16 compute (kernels/
// activation_bf16.cu), without the round trip of the 4096 x 4096 product through memory: with
// 10 outputs the product is 10 multiply-adds per stored element, so the pass is bound by its
// 2-byte store (cuBLASLt's plain GEMM of this shape took 27 us into fp32 on the H200, the DRELU
// epilogue 165 us; bench/RESULTS.md).
//
// Block: 32 column threads x 8 row lanes over 64 columns (two a thread, their n weights held in
// registers) and one chunk of rows (chunks_of); a row's n values of dy are read by the whole warp
// (one broadcast load each), summed in order o = 0..n-1 with fmaf; the row lanes' column sums are
// added in lane order into partials[chunk][col], then column_finalize_kernel adds the chunks in
// order. Every order depends only on the shape: bitwise reproducible run to run. The CPU twin is
// linear_backward_input with a bf16 dx on the CPU (src/ops/cpu/linear.cpp).
#include "core/bf16.hpp"
#include "kernels/column_reduce.cuh"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/launch.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreadsX = 32;
constexpr int kRowLanes = 8;
constexpr int kTileCols = 2 * kThreadsX;
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kMaxChunks = 1024;

// Chunks of at least 64 rows, at most 1024 of them, smaller for a small grid
// (kernels::small_grid_chunks).
kernels::ColumnChunks chunks_of(int64_t rows, int64_t cols) {
  return kernels::small_grid_chunks(rows, (cols + kTileCols - 1) / kTileCols, kMinChunkRows,
                                    kMaxChunks, kRowLanes);
}

__device__ __forceinline__ float bf16_at(const uint16_t* p, int64_t i) {
  return bf16_bits_to_float(__ldg(p + i));
}

__global__ void __launch_bounds__(kThreadsX* kRowLanes, 3)
    skinny_dgrad_relu_kernel(const uint16_t* __restrict__ dy, int n, const uint16_t* __restrict__ w,
                             const uint8_t* __restrict__ mask, int64_t mask_ld,
                             uint16_t* __restrict__ dx, int64_t rows, int64_t cols,
                             int64_t chunk_rows, float* __restrict__ partials) {
  __shared__ float tile[kRowLanes][kTileCols + 1];
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kTileCols + 2 * tx;
  const bool has0 = c0 < cols, has1 = c0 + 1 < cols;
  float w0[kSkinnyMaxOut], w1[kSkinnyMaxOut];
#pragma unroll
  for (int o = 0; o < kSkinnyMaxOut; ++o) {
    w0[o] = o < n && has0 ? bf16_at(w, o * cols + c0) : 0.0f;
    w1[o] = o < n && has1 ? bf16_at(w, o * cols + c0 + 1) : 0.0f;
  }
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  const bool pair = has1 && cols % 2 == 0;  // one 4-byte store of both columns
  float acc0 = 0.0f, acc1 = 0.0f;
  if (has0) {
#pragma unroll 1
    for (int64_t r = r0 + ty; r < r1; r += kRowLanes) {
      float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
      for (int o = 0; o < kSkinnyMaxOut; ++o) {
        if (o < n) {
          const float g = bf16_at(dy, r * n + o);
          s0 = fmaf(g, w0[o], s0);
          s1 = fmaf(g, w1[o], s1);
        }
      }
      const int64_t bit = r * mask_ld + c0;
      const uint32_t bits = mask[bit >> 3] >> (bit & 7);  // c0 even: both bits in this byte
      const uint16_t o0 = float_to_bf16_bits(s0 * ((bits & 1u) ? 1.0f : 0.0f));
      const uint16_t o1 = float_to_bf16_bits(s1 * ((bits & 2u) ? 1.0f : 0.0f));
      acc0 += bf16_bits_to_float(o0);
      const int64_t i = r * cols + c0;
      if (pair) {
        *reinterpret_cast<uint32_t*>(dx + i) = bf16x2_pack(o0, o1);
        acc1 += bf16_bits_to_float(o1);
      } else {
        dx[i] = o0;
        if (has1) {
          dx[i + 1] = o1;
          acc1 += bf16_bits_to_float(o1);
        }
      }
    }
  }
  if (partials == nullptr) return;  // the same for every thread of the grid
  tile[ty][2 * tx] = acc0;
  tile[ty][2 * tx + 1] = acc1;
  __syncthreads();
  const int t = ty * kThreadsX + tx;
  if (t < kTileCols) {
    const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + t;
    if (c < cols) {
      float s = 0.0f;
#pragma unroll
      for (int l = 0; l < kRowLanes; ++l) s += tile[l][t];
      partials[chunk * cols + c] = s;
    }
  }
}

}  // namespace

void launch_skinny_input_grad_relu(DeviceContext& ctx, const Tensor& dy, const Tensor& w,
                                   const void* mask, int64_t mask_ld, Tensor& dx, float* dbias) {
  const int64_t rows = dy.dim(0), n = dy.dim(1), cols = w.dim(1);
  KASMINA_CHECK(dy.dtype() == DType::bf16 && w.dtype() == DType::bf16 &&
                    dx.dtype() == DType::bf16 && n >= 1 && n <= kSkinnyMaxOut && rows > 0 &&
                    cols > 0 && w.dim(0) == n && dx.dim(0) == rows && dx.dim(1) == cols &&
                    mask_ld % 128 == 0,
                "skinny input gradient: bf16 dy [rows, 1..16], w [n, cols], dx [rows, cols] and "
                "a ReLU mask expected");
  const kernels::ColumnChunks ch = chunks_of(rows, cols);
  float* partials =
      dbias ? static_cast<float*>(scratch(ctx, static_cast<size_t>(ch.chunks * cols) * 4))
            : nullptr;
  const dim3 grid(static_cast<unsigned>((cols + kTileCols - 1) / kTileCols),
                  static_cast<unsigned>(ch.chunks));
  launch_pdl(ctx, &skinny_dgrad_relu_kernel, grid, dim3(kThreadsX, kRowLanes),
             "skinny_dgrad_relu_kernel", static_cast<const uint16_t*>(dy.raw()),
             static_cast<int>(n), static_cast<const uint16_t*>(w.raw()),
             static_cast<const uint8_t*>(mask), mask_ld, static_cast<uint16_t*>(dx.raw()), rows,
             cols, ch.chunk_rows, partials);
  if (!dbias) return;
  launch_column_finalize(ctx, static_cast<const float*>(partials), ch.chunks, cols, dbias);
}

}  // namespace kasmina::ops::cuda
