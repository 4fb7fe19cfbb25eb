// Deterministic column reductions over a row-major [rows, cols] matrix without atomics:
// stage 1 sums a fixed chunk of rows per block (32 columns x 8 row lanes, lanes combined in a
// fixed order) into partials[out][chunk][col]; stage 2 adds the chunk partials of each column
// with 32 lanes per column (lane l takes chunks l, l + 32, ... in ascending order; the lanes are
// then added in lane order), so a column of up to 1024 chunks costs 32 dependent loads rather
// than 1024. The chunking and the order depend only on the shape, so results are bitwise
// reproducible run to run.
#pragma once
#include <cstdint>

#include "kernels/pdl.cuh"
#include "kernels/row_chunks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::kernels {

constexpr int kColumnTile = 32;
constexpr int kRowLanes = 8;
constexpr int kFinalLanes = 32;

// term(r, c, v) writes the NOUT values that row r contributes to column c into v.
template <int NOUT, class Term>
__global__ void column_partials_kernel(int64_t rows, int64_t cols, int64_t chunk_rows,
                                       int64_t chunks, Term term, float* partials) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  __shared__ float tile[NOUT][kRowLanes][kColumnTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  float acc[NOUT];
#pragma unroll
  for (int o = 0; o < NOUT; ++o) acc[o] = 0.0f;
  if (c < cols) {
#pragma unroll 4
    for (int64_t r = r0 + ty; r < r1; r += kRowLanes) {
      float v[NOUT];
      term(r, c, v);
#pragma unroll
      for (int o = 0; o < NOUT; ++o) acc[o] += v[o];
    }
  }
#pragma unroll
  for (int o = 0; o < NOUT; ++o) tile[o][ty][tx] = acc[o];
  __syncthreads();
  if (ty == 0 && c < cols) {
#pragma unroll
    for (int o = 0; o < NOUT; ++o) {
      float s = 0.0f;
      for (int l = 0; l < kRowLanes; ++l) s += tile[o][l][tx];
      partials[(o * chunks + chunk) * cols + c] = s;
    }
  }
}

// Block: kColumnTile columns x kFinalLanes lanes.
template <int NOUT>
__global__ void column_finalize_kernel(const float* partials, int64_t chunks, int64_t cols,
                                       float* out0, float* out1) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  __shared__ float tile[NOUT][kFinalLanes][kColumnTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + tx;
#pragma unroll
  for (int o = 0; o < NOUT; ++o) {
    float s = 0.0f;
    if (c < cols) {
#pragma unroll 4
      for (int64_t k = ty; k < chunks; k += kFinalLanes) s += partials[(o * chunks + k) * cols + c];
    }
    tile[o][ty][tx] = s;
  }
  __syncthreads();
  if (ty == 0 && c < cols) {
#pragma unroll
    for (int o = 0; o < NOUT; ++o) {
      float s = 0.0f;
      for (int l = 0; l < kFinalLanes; ++l) s += tile[o][l][tx];
      (o == 0 ? out0 : out1)[c] = s;
    }
  }
}

// Runs both stages on stream `s`; `partials` holds NOUT * chunks * cols floats.
template <int NOUT, class Term>
void column_reduce(cudaStream_t s, int64_t rows, int64_t cols, Term term, float* partials,
                   float* out0, float* out1) {
  const ColumnChunks ch = column_chunks(rows);
  const dim3 block(kColumnTile, kRowLanes);
  const dim3 grid(static_cast<unsigned>((cols + kColumnTile - 1) / kColumnTile),
                  static_cast<unsigned>(ch.chunks));
  column_partials_kernel<NOUT>
      <<<grid, block, 0, s>>>(rows, cols, ch.chunk_rows, ch.chunks, term, partials);
  KASMINA_LAUNCH_CHECK("column_partials_kernel");
  column_finalize_kernel<NOUT>
      <<<grid.x, dim3(kColumnTile, kFinalLanes), 0, s>>>(partials, ch.chunks, cols, out0, out1);
  KASMINA_LAUNCH_CHECK("column_finalize_kernel");
}

}  // namespace kasmina::kernels

namespace kasmina::ops::cuda {

// Stage 2 alone for one output, as a programmatic dependent of the kernel that wrote the
// partials: out[c] = the `chunks` partials[k][c] of column c added in the fixed order above.
inline void launch_column_finalize(const DeviceContext& ctx, const float* partials, int64_t chunks,
                                   int64_t cols, float* out) {
  launch_pdl(ctx, &kernels::column_finalize_kernel<1>,
             dim3(static_cast<unsigned>((cols + kernels::kColumnTile - 1) / kernels::kColumnTile)),
             dim3(kernels::kColumnTile, kernels::kFinalLanes), "column_finalize_kernel", partials,
             chunks, cols, out, static_cast<float*>(nullptr));
}

}  // namespace kasmina::ops::cuda
