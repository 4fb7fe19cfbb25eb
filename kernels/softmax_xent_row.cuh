// The row work of softmax cross-entropy, shared by softmax_xent.cu and the fused MLP step
// (mlp_step.cu): one warp's row (max-shifted softmax, loss, first argmax, optional logit
// gradient) and the fixed-order sum of the rows' losses and hits by one block.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/vector_io.cuh"
#include "kernels/warp_reduce.cuh"

namespace kasmina::kernels {

// One row (one warp): loss, hit and optional gradient; lane 0 writes row_loss and row_hit.
template <int V>
__device__ void softmax_xent_row(const float* __restrict__ logits,
                                 const int32_t* __restrict__ labels, int64_t row, int lane,
                                 int64_t classes, float grad_scale, float* __restrict__ dlogits,
                                 double* __restrict__ row_loss, int32_t* __restrict__ row_hit) {
  const float* z = logits + row * classes;
  float best = -INFINITY;
  int64_t best_idx = classes;  // larger than any index: loses every tie
  for (int64_t c = lane * V; c < classes; c += 32 * V) {
    float v[V];
    load_floats<V>(z, c, v);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (v[j] > best || (v[j] == best && c + j < best_idx)) {
        best = v[j];
        best_idx = c + j;
      }
    }
  }
  warp_argmax(best, best_idx);
  float sum = 0.0f;
  for (int64_t c = lane * V; c < classes; c += 32 * V) {
    float v[V];
    load_floats<V>(z, c, v);
#pragma unroll
    for (int j = 0; j < V; ++j) sum += expf(v[j] - best);
  }
  sum = warp_sum(sum);
  const int32_t label = labels[row];
  const bool valid = label >= 0 && label < classes;
  if (dlogits) {
    const float inv = 1.0f / sum;
    float* d = dlogits + row * classes;
    for (int64_t c = lane * V; c < classes; c += 32 * V) {
      float v[V], g[V];
      load_floats<V>(z, c, v);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float prob = expf(v[j] - best) * inv;
        g[j] = (prob - (c + j == label ? 1.0f : 0.0f)) * grad_scale;
      }
      store_floats<V>(d, c, g);
    }
  }
  if (lane == 0) {
    row_loss[row] = valid ? static_cast<double>(logf(sum)) -
                                (static_cast<double>(z[label]) - static_cast<double>(best))
                          : static_cast<double>(NAN);
    row_hit[row] = valid && best_idx == label ? 1 : 0;
  }
}

// Thread t adds rows t, t + T, ... in order; then a fixed shared-memory tree. Reads bypass L1
// (the rows were written by other blocks).
template <int kThreads>
__device__ void add_rows(const double* row_loss, const int32_t* row_hit, int64_t rows,
                         double* __restrict__ loss_sum, int64_t* __restrict__ correct) {
  __shared__ double loss_part[kThreads];
  __shared__ long long hit_part[kThreads];
  double l = 0.0;
  long long h = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
    l += __ldcg(row_loss + r);
    h += __ldcg(row_hit + r);
  }
  loss_part[threadIdx.x] = l;
  hit_part[threadIdx.x] = h;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width >>= 1) {
    if (static_cast<int>(threadIdx.x) < width) {
      loss_part[threadIdx.x] += loss_part[threadIdx.x + width];
      hit_part[threadIdx.x] += hit_part[threadIdx.x + width];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    loss_sum[0] += loss_part[0];
    if (correct) correct[0] += hit_part[0];
  }
}

}  // namespace kasmina::kernels
