// The weight gradient of a linear layer with few outputs (the logits layer): dw[o, c] =
// Σ_r dy[r, o] x[r, c] and db[o] = Σ_r dy[r, o] for n <= kSkinnyMaxOut outputs, over bf16
// operands (train.precision: bf16), summed in fp32. cuBLASLt has no good algorithm for this shape
// with bf16 operands (dy's leading dimension of 10 elements is not 16-byte aligned): measured on
// the H200 at 1024 x 10 x 4096, 164 us with the BGRADB epilogue (its only candidate, a SIMT kernel)
// and 65-98 us without, for 8 MB of x that the copy bandwidth reads in ~2 us (bench/RESULTS.md).
//
// Stage 1, one block per (64-column tile, chunk of at most 128 rows): the chunk's dy rows are
// staged in shared memory as fp32; warp w (of 8) walks rows w, w + 8, ... of the chunk and each
// lane keeps the n partial sums of its two columns; the 8 warps' sums are added in warp order into
// partials[chunk][o][c] (and the first column tile adds the chunk's dy columns in row order into
// db_partials[chunk][o]). Stage 2 adds the chunk partials of each (o, c) in chunk order. Every
// order depends only on the shape: bitwise reproducible run to run. The CPU twin is
// linear_backward_weight on the CPU (src/ops/cpu/), compared in the CUDA-vs-CPU table's linear
// entries.
#include "core/bf16.hpp"
#include "kernels/pdl.cuh"
#include "kernels/row_chunks.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/launch.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;  // row lanes
constexpr int kTileCols = 64;          // two columns per lane
constexpr int kChunkRows = 128;        // rows per block (at most; fewer for a small grid)
constexpr int kFinalThreads = 256;

__device__ __forceinline__ float load_value(const uint16_t* p, int64_t i) {
  return bf16_bits_to_float(__ldg(p + i));
}

__global__ void __launch_bounds__(kThreads)
    skinny_wgrad_partials(const uint16_t* __restrict__ x, const uint16_t* __restrict__ dy,
                          int64_t rows, int64_t cols, int n, int chunk_rows,
                          float* __restrict__ partials, float* __restrict__ db_partials) {
  __shared__ float dys[kChunkRows][kSkinnyMaxOut + 1];
  __shared__ float red[kWarps][kSkinnyMaxOut][kTileCols + 1];
  kernels::pdl_wait();
  const int t = threadIdx.x, w = t / 32, lane = t % 32;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows;
  const int nrows = static_cast<int>(rows - r0 < chunk_rows ? rows - r0 : chunk_rows);
  for (int i = t; i < nrows * n; i += kThreads) {
    const int r = i / n, o = i % n;
    dys[r][o] = load_value(dy, (r0 + r) * n + o);
  }
  __syncthreads();
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kTileCols + 2 * lane;
  const bool has0 = c0 < cols, has1 = c0 + 1 < cols;
  float acc0[kSkinnyMaxOut], acc1[kSkinnyMaxOut];
#pragma unroll
  for (int o = 0; o < kSkinnyMaxOut; ++o) acc0[o] = acc1[o] = 0.0f;
#pragma unroll 4
  for (int r = w; r < nrows; r += kWarps) {
    const int64_t base = (r0 + r) * cols + c0;
    const float x0 = has0 ? load_value(x, base) : 0.0f;
    const float x1 = has1 ? load_value(x, base + 1) : 0.0f;
#pragma unroll
    for (int o = 0; o < kSkinnyMaxOut; ++o) {
      if (o < n) {
        const float g = dys[r][o];
        acc0[o] = fmaf(g, x0, acc0[o]);
        acc1[o] = fmaf(g, x1, acc1[o]);
      }
    }
  }
  kernels::pdl_launch_dependents();
#pragma unroll
  for (int o = 0; o < kSkinnyMaxOut; ++o) {
    if (o < n) {
      red[w][o][2 * lane] = acc0[o];
      red[w][o][2 * lane + 1] = acc1[o];
    }
  }
  __syncthreads();
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTileCols;
  for (int i = t; i < n * kTileCols; i += kThreads) {
    const int o = i / kTileCols, cc = i % kTileCols;
    if (col0 + cc >= cols) continue;
    float s = 0.0f;
#pragma unroll
    for (int l = 0; l < kWarps; ++l) s += red[l][o][cc];
    partials[(chunk * n + o) * cols + col0 + cc] = s;
  }
  if (blockIdx.x == 0 && t < n) {
    float s = 0.0f;
    for (int r = 0; r < nrows; ++r) s += dys[r][t];
    db_partials[chunk * n + t] = s;
  }
}

// One thread per (o, c) (and, in the last block, one per o for db): the chunks in order.
__global__ void __launch_bounds__(kFinalThreads)
    skinny_wgrad_finalize(const float* __restrict__ partials, const float* __restrict__ db_partials,
                          int64_t chunks, int64_t cols, int n, float* __restrict__ dw,
                          float* __restrict__ db) {
  kernels::pdl_wait();
  const int64_t total = static_cast<int64_t>(n) * cols;
  if (blockIdx.x + 1 == gridDim.x) {
    if (db != nullptr && static_cast<int>(threadIdx.x) < n) {
      float s = 0.0f;
      for (int64_t ch = 0; ch < chunks; ++ch) s += db_partials[ch * n + threadIdx.x];
      db[threadIdx.x] = s;
    }
    return;
  }
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kFinalThreads + threadIdx.x;
  if (i >= total) return;
  const int64_t o = i / cols, c = i % cols;
  float s = 0.0f;
  for (int64_t ch = 0; ch < chunks; ++ch) s += partials[(ch * n + o) * cols + c];
  dw[o * cols + c] = s;
}

}  // namespace

void launch_skinny_weight_grad(DeviceContext& ctx, const Tensor& dy, const Tensor& x, float* dw,
                               float* db) {
  const int64_t rows = dy.dim(0), n = dy.dim(1), cols = x.dim(1);
  KASMINA_CHECK(dy.dtype() == DType::bf16 && x.dtype() == DType::bf16 && n >= 1 &&
                    n <= kSkinnyMaxOut && rows > 0 && cols > 0 && x.dim(0) == rows,
                "skinny weight gradient: bf16 dy [rows, 1..16] and x [rows, cols] expected");
  const auto* dyp = static_cast<const uint16_t*>(dy.raw());
  const auto* xp = static_cast<const uint16_t*>(x.raw());
  // 128-row chunks, smaller for a small grid (kernels::small_grid_chunks).
  const int64_t tiles = (cols + kTileCols - 1) / kTileCols;
  const kernels::ColumnChunks ch =
      kernels::small_grid_chunks(rows, tiles, kChunkRows, INT64_MAX, kWarps);
  const int chunk_rows = static_cast<int>(ch.chunk_rows);
  const int64_t chunks = ch.chunks;
  KASMINA_CHECK(chunks <= 65535, "skinny weight gradient: more than 65535 x 128 rows");
  auto* partials = static_cast<float*>(
      scratch(ctx, static_cast<size_t>(chunks * n * (cols + 1)) * sizeof(float)));
  float* db_partials = partials + chunks * n * cols;
  launch_pdl(ctx, &skinny_wgrad_partials,
             dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(chunks)), dim3(kThreads),
             "skinny_wgrad_partials", xp, dyp, rows, cols, static_cast<int>(n), chunk_rows,
             partials, db_partials);
  const int64_t blocks = (n * cols + kFinalThreads - 1) / kFinalThreads + 1;
  launch_pdl(ctx, &skinny_wgrad_finalize, dim3(static_cast<unsigned>(blocks)), dim3(kFinalThreads),
             "skinny_wgrad_finalize", static_cast<const float*>(partials),
             static_cast<const float*>(db_partials), chunks, cols, static_cast<int>(n), dw, db);
}

}  // namespace kasmina::ops::cuda
