// Per-channel sums of batch normalisation in one launch (namespace kasmina::kernels): the rows
// of an [R, C] matrix (an NHWC map viewed as [N*H*W, C]) are cut into at most 128 fixed chunks,
// one block of THREADS threads per chunk reads all C columns of its rows (V = 4 consecutive
// channels per thread, 16-byte loads, a warp reading whole rows; bn_row_batch(THREADS) rows of a
// row lane in flight together), adds them per row lane and then across lanes in a fixed order
// into partials[o][chunk][c]. Before the ticket every block loads what `finish` needs of its
// columns (finish.prefetch), so the last block does not wait for those reads after its sums. The
// last block to finish (by a ticket counter) adds each column's chunk partials in ascending chunk
// order (sub-lanes over strided chunks, bn_tail_batch(THREADS) loads in flight, then the sub-lanes
// in order) and hands the NOUT totals of each column to `finish`, then resets the ticket
// (kernels/last_block.cuh: one thread per block takes the ticket with release/acquire
// semantics). Chunking, block size and order depend only on the shape, so the sums are bitwise
// reproducible run to run; there are no atomics on data.
//
// Replaces column_reduce.cuh's two launches (partials, then finalize) and the launch that used
// their totals: a batchnorm's statistics or parameter gradients are one kernel.
#pragma once
#include <cstdint>

#include "kernels/batched_sum.cuh"
#include "kernels/last_block.cuh"
#include "kernels/vector_io.cuh"

namespace kasmina::kernels {

constexpr int kBnThreads = 1024;       // the largest block (V = 1, or more than 512 column vectors)
constexpr int kBnNarrowThreads = 512;  // V = 4 with at most 512 column vectors
constexpr int64_t kBnChunks = 128;     // about one block per SM: the last block adds few partials

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

// Loads in flight together (kernels/batched_sum.cuh), each batch added in the plain loop's order:
// lanes per sub-lane in the block's own sums (shared memory), chunk partials per sub-lane in the
// last block, rows per row lane (a 512-thread block has half the row lanes of a 1024-thread one:
// four rows at a time keep the bytes in flight per SM; registers: 64 a thread at 1024 threads,
// 128 at 512). Measured on an H100 (bench/RESULTS.md, twenty-first session): half of a launch is
// the last block reading the 2 x chunks x C partials through one SM, at that SM's L2 read rate
// whatever the batch, so these choices moved the ResNet step by 0.4% only. With rows in pairs or
// fours the compiler contracts the backward's g·x̂ products differently from one row at a time
// (an FMUL and an FADD where there was one FFMA, sm_90 SASS), so the sums' last bits depend on
// the batch as well as on the order (fixed by the shape either way: runs repeat bit for bit).
constexpr int kBnBatch = 8;
constexpr int bn_tail_batch(int threads) {
  return threads >= 1024 ? 16 : 32;
}
constexpr int bn_row_batch(int threads) {
  return threads >= 1024 ? 2 : 4;
}

// The block size of a shape: kBnNarrowThreads when the columns are read four at a time and fit,
// else kBnThreads.
inline int bn_threads(int64_t cols, int v) {
  return v == 4 && cols / v <= kBnNarrowThreads ? kBnNarrowThreads : kBnThreads;
}

// Whether the one-launch kernel takes `cols` columns at vector width V.
inline bool bn_columns_fit(int64_t cols, int v) {
  return cols >= 1 && cols <= kBnMaxColumns && cols % v == 0 && cols / v <= kBnThreads;
}

// out[q] = Σ_{l < n} src[l * P + q] for the P = pairs sums of a block, in ascending l: S
// sub-lanes per sum (a power of two, S * P <= THREADS) take l = s, s + S, ..., B loads in flight,
// then the S sub-sums are added in sub-lane order. `tmp` holds THREADS floats; out is written by
// threads q < P after the call's final barrier. Every thread of the block calls it.
template <int THREADS, int B, class Load>
__device__ __forceinline__ void bn_sum_lanes(int pairs, int n, Load load, float* tmp, float* out) {
  int S = 1;
  while (S < 32 && S * 2 * pairs <= THREADS) S *= 2;
  const int t = threadIdx.x;
  const int q = t % pairs, sub = t / pairs;
  if (sub < S) {
    tmp[sub * pairs + q] = batched_sum<B>(0.0f, sub, n, S, [&](int l) { return load(l, q); });
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
// c..c+V-1; finish.prefetch(c) loads what finish needs of column c (a Finish::Pre), and
// finish(c, totals, pre) receives column c's NOUT sums. partials: NOUT * chunks * cols. Pairs
// (output o, column c) are numbered o * cols + c. Launched with THREADS threads a block.
template <int NOUT, int V, int THREADS, class Term, class Finish>
__global__ void __launch_bounds__(THREADS)
    bn_columns_kernel(int64_t rows, int cols, int64_t chunk_rows, int chunks, Term term,
                      Finish finish, float* partials, unsigned int* ticket) {
  constexpr int kRowBatch = bn_row_batch(THREADS);
  constexpr int kColsPerThread = kBnMaxColumns / THREADS;
  __shared__ float lanes[NOUT * THREADS * V];  // [lane][o][c]
  __shared__ float tmp[THREADS];
  __shared__ float sums[NOUT * kBnMaxColumns];
  const int t = threadIdx.x;
  const int L = cols / V, nlanes = THREADS / L;
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
    for (; r + (kRowBatch - 1) * nlanes < r1; r += kRowBatch * nlanes) {
      float v[kRowBatch][NOUT][V];
#pragma unroll
      for (int b = 0; b < kRowBatch; ++b) term.template load<V>(r + b * nlanes, j * V, v[b]);
#pragma unroll
      for (int b = 0; b < kRowBatch; ++b)
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
  // The block's partial of each pair: its row lanes in order (pairs beyond THREADS in turns).
  for (int p0 = 0; p0 < pairs; p0 += THREADS) {
    const int np = pairs - p0 < THREADS ? pairs - p0 : THREADS;
    bn_sum_lanes<THREADS, kBnBatch>(
        np, nlanes, [&](int l, int q) { return lanes[l * pairs + p0 + q]; }, tmp, sums);
    if (t < np)
      partials[static_cast<int64_t>(p0 + t) / cols * chunks * cols +
               static_cast<int64_t>(blockIdx.x) * cols + (p0 + t) % cols] = sums[t];
  }
  // What finish needs, loaded before the ticket (only the last block uses it).
  typename Finish::Pre pre[kColsPerThread];
#pragma unroll
  for (int i = 0; i < kColsPerThread; ++i)
    if (t + i * THREADS < cols) pre[i] = finish.prefetch(t + i * THREADS);
  if (!last_block(ticket, gridDim.x)) return;
  // The last block: every pair's chunk partials in chunk order.
  for (int p0 = 0; p0 < pairs; p0 += THREADS) {
    const int np = pairs - p0 < THREADS ? pairs - p0 : THREADS;
    // This thread's pair (q = t % np in bn_sum_lanes): its partials' column, found once.
    const int p = p0 + t % np;
    const float* column = partials + static_cast<int64_t>(p / cols) * chunks * cols + p % cols;
    bn_sum_lanes<THREADS, bn_tail_batch(THREADS)>(
        np, chunks, [&](int k, int) { return __ldcg(column + static_cast<int64_t>(k) * cols); },
        tmp, sums + p0);
  }
#pragma unroll
  for (int i = 0; i < kColsPerThread; ++i) {
    const int c = t + i * THREADS;
    if (c >= cols) break;
    float tot[NOUT];
#pragma unroll
    for (int o = 0; o < NOUT; ++o) tot[o] = sums[o * cols + c];
    finish(c, tot, pre[i]);
  }
  if (t == 0) *ticket = 0u;
}

}  // namespace kasmina::kernels
