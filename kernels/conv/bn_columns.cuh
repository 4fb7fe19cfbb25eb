// Per-channel sums of batch normalisation in one launch (namespace kasmina::kernels): the rows
// of an [R, C] matrix (an NHWC map viewed as [N*H*W, C]) are cut into at most 128 fixed chunks,
// one block of 1024 threads per chunk reads all C columns of its rows (V = 4 consecutive
// channels per thread, 16-byte loads, a warp reading whole rows), adds them per row lane and then
// across lanes in a fixed order into partials[o][chunk][c]. The last block to finish (by a ticket
// counter) adds each column's chunk partials in ascending chunk order
// (sub-lanes over strided chunks, then the sub-lanes in order) and hands the NOUT totals of each
// column to `finish`, then resets the ticket (kernels/last_block.cuh: one thread per block takes
// the ticket with release/acquire semantics). Chunking and order depend only on the
// shape, so the sums are bitwise reproducible run to run; there are no atomics on data.
//
// Replaces column_reduce.cuh's two launches (partials, then finalize) and the launch that used
// their totals: a batchnorm's statistics or parameter gradients are one kernel.
#pragma once
#include <cstdint>

#include "kernels/batched_sum.cuh"
#include "kernels/last_block.cuh"
#include "kernels/vector_io.cuh"

namespace kasmina::kernels {

constexpr int kBnThreads = 1024;
constexpr int64_t kBnChunks = 128;  // about one block per SM: the last block adds few partials

struct BnChunks {
  int64_t chunk_rows = 0;
  int64_t chunks = 0;
};

// At most kBnChunks chunks of at least 8 rows (the shape alone decides them).
inline BnChunks bn_chunks(int64_t rows) {
  int64_t chunk_rows = (rows + kBnChunks - 1) / kBnChunks;
  if (chunk_rows < 8) chunk_rows = 8;
  return {chunk_rows, rows == 0 ? 1 : (rows + chunk_rows - 1) / chunk_rows};
}

constexpr int64_t kBnMaxColumns = 1024;  // the shared-memory arrays below are sized for it

// Loads in flight together (kernels/batched_sum.cuh): partials or lanes per thread in
// bn_sum_lanes, and rows per row lane (registers: 64 a thread at 1024 threads), each batch added
// in the plain loop's order. The additions are the same as with one row at a time, but the
// compiler contracts the terms' products differently: with rows in pairs most of the backward's
// g·x̂ products are an FMUL and an FADD where they were one FFMA (sm_90 SASS), so the sums'
// last bits, and a trained network's, differ from the builds before 9fc5226 (the order is
// still fixed by the shape, so runs repeat; not yet rerun twice on a GPU).
constexpr int kBnBatch = 8;
constexpr int kBnRowBatch = 2;

// Whether the one-launch kernel takes `cols` columns at vector width V.
inline bool bn_columns_fit(int64_t cols, int v) {
  return cols >= 1 && cols <= kBnMaxColumns && cols % v == 0 && cols / v <= kBnThreads;
}

// out[q] = Σ_{l < n} src[l * P + q] for the P = pairs sums of a block, in ascending l: S
// sub-lanes per sum (a power of two, S * P <= kBnThreads) take l = s, s + S, ..., then the S
// sub-sums are added in sub-lane order. `tmp` holds kBnThreads floats; out is written by threads
// q < P after the call's final barrier. Every thread of the block calls it.
template <class Load>
__device__ __forceinline__ void bn_sum_lanes(int pairs, int n, Load load, float* tmp, float* out) {
  int S = 1;
  while (S < 32 && S * 2 * pairs <= kBnThreads) S *= 2;
  const int t = threadIdx.x;
  const int q = t % pairs, sub = t / pairs;
  if (sub < S) {
    tmp[sub * pairs + q] =
        batched_sum<kBnBatch>(0.0f, sub, n, S, [&](int l) { return load(l, q); });
  }
  __syncthreads();
  if (t < pairs) {
    float total = 0.0f;
    for (int s = 0; s < S; ++s) total += tmp[s * pairs + t];
    out[t] = total;
  }
  __syncthreads();
}

// term.template load<V>(r, c, v) writes the NOUT x V values that row r contributes to columns
// c..c+V-1; finish(c, totals) receives column c's NOUT sums. partials: NOUT * chunks * cols.
// Pairs (output o, column c) are numbered o * cols + c.
template <int NOUT, int V, class Term, class Finish>
__global__ void __launch_bounds__(kBnThreads)
    bn_columns_kernel(int64_t rows, int cols, int64_t chunk_rows, int chunks, Term term,
                      Finish finish, float* partials, unsigned int* ticket) {
  __shared__ float lanes[NOUT * kBnThreads * V];  // [lane][o][c]
  __shared__ float tmp[kBnThreads];
  __shared__ float sums[NOUT * kBnMaxColumns];
  const int t = threadIdx.x;
  const int L = cols / V, nlanes = kBnThreads / L;
  const int j = t % L, lane = t / L;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  const int pairs = NOUT * cols;
  if (lane < nlanes) {
    float acc[NOUT][V];
#pragma unroll
    for (int o = 0; o < NOUT; ++o)
#pragma unroll
      for (int k = 0; k < V; ++k) acc[o][k] = 0.0f;
    int64_t r = r0 + lane;
    for (; r + (kBnRowBatch - 1) * nlanes < r1; r += kBnRowBatch * nlanes) {
      float v[kBnRowBatch][NOUT][V];
#pragma unroll
      for (int b = 0; b < kBnRowBatch; ++b) term.template load<V>(r + b * nlanes, j * V, v[b]);
#pragma unroll
      for (int b = 0; b < kBnRowBatch; ++b)
#pragma unroll
        for (int o = 0; o < NOUT; ++o)
#pragma unroll
          for (int k = 0; k < V; ++k) acc[o][k] += v[b][o][k];
    }
    for (; r < r1; r += nlanes) {
      float v[NOUT][V];
      term.template load<V>(r, j * V, v);
#pragma unroll
      for (int o = 0; o < NOUT; ++o)
#pragma unroll
        for (int k = 0; k < V; ++k) acc[o][k] += v[o][k];
    }
#pragma unroll
    for (int o = 0; o < NOUT; ++o)
#pragma unroll
      for (int k = 0; k < V; ++k) lanes[(lane * NOUT + o) * cols + j * V + k] = acc[o][k];
  }
  __syncthreads();
  // The block's partial of each pair: its row lanes in order (pairs beyond kBnThreads in turns).
  for (int p0 = 0; p0 < pairs; p0 += kBnThreads) {
    const int np = pairs - p0 < kBnThreads ? pairs - p0 : kBnThreads;
    bn_sum_lanes(
        np, nlanes, [&](int l, int q) { return lanes[l * pairs + p0 + q]; }, tmp, sums);
    if (t < np)
      partials[static_cast<int64_t>(p0 + t) / cols * chunks * cols +
               static_cast<int64_t>(blockIdx.x) * cols + (p0 + t) % cols] = sums[t];
  }
  if (!last_block(ticket, gridDim.x)) return;
  // The last block: every pair's chunk partials in chunk order.
  for (int p0 = 0; p0 < pairs; p0 += kBnThreads) {
    const int np = pairs - p0 < kBnThreads ? pairs - p0 : kBnThreads;
    // This thread's pair (q = t % np in bn_sum_lanes): its partials' column, found once.
    const int p = p0 + t % np;
    const float* column = partials + static_cast<int64_t>(p / cols) * chunks * cols + p % cols;
    bn_sum_lanes(
        np, chunks, [&](int k, int) { return __ldcg(column + static_cast<int64_t>(k) * cols); },
        tmp, sums + p0);
  }
  for (int c = t; c < cols; c += kBnThreads) {
    float tot[NOUT];
#pragma unroll
    for (int o = 0; o < NOUT; ++o) tot[o] = sums[o * cols + c];
    finish(c, tot);
  }
  if (t == 0) *ticket = 0u;
}

}  // namespace kasmina::kernels
