// The end of a logits tile in the fused MLP step (mlp_step.cu): the block that finishes a tile
// of logits (at most 32 classes) computes its rows' softmax cross-entropy from shared memory,
// and the input gradient through the last layer for those rows.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/mlp_step_tile.cuh"
#include "kernels/mlp_step_types.cuh"
#include "kernels/warp_reduce.cuh"

namespace kasmina::kernels::mlp_step {

constexpr int kZStride = mlp::kTile + 1;  // [row][class] tiles in shared memory

// The softmax cross-entropy of the logits tile's rows [m0, m0 + 32) from zt (shared memory),
// one warp a row, a lane a class: the arithmetic of softmax_xent_row (softmax_xent_row.cuh) with
// one class a lane. Writes dlogits, the rows' losses and hits, and the gradient tile to dl.
__device__ void tile_loss(const StepDev& s, int m0, const float* zt, float* dl) {
  const int warp = threadIdx.x / 32, c = threadIdx.x % 32;
  for (int ml = warp; ml < mlp::kTile && m0 + ml < s.rows; ml += mlp::kThreads / 32) {
    const int r = m0 + ml;
    const float z = c < s.classes ? zt[ml * kZStride + c] : 0.0f;
    float best = -INFINITY;
    int64_t best_idx = s.classes;
    if (c < s.classes && (z > best || (z == best && c < best_idx))) best = z, best_idx = c;
    warp_argmax(best, best_idx);
    const float sum = warp_sum(c < s.classes ? expf(z - best) : 0.0f);
    const int32_t label = s.labels[r];
    const bool valid = label >= 0 && label < s.classes;
    const float z_label = __shfl_sync(0xffffffffu, z, valid ? label : 0);
    if (c < s.classes) {
      const float prob = expf(z - best) * (1.0f / sum);
      const float g = (prob - (c == label ? 1.0f : 0.0f)) * s.grad_scale;
      s.dlogits[static_cast<int64_t>(r) * s.classes + c] = g;
      dl[ml * kZStride + c] = g;
    }
    if (c == 0) {
      s.row_loss[r] = valid ? static_cast<double>(logf(sum)) -
                                  (static_cast<double>(z_label) - static_cast<double>(best))
                            : static_cast<double>(NAN);
      s.row_hit[r] = valid && best_idx == label ? 1 : 0;
    }
  }
}

// The input gradient through the last layer for the tile's rows: g_below[r, i] = Σ_c dl[r, c]
// W[c, i] (c in order), masked by the ReLU below; W staged in shared memory (w_sh).
__device__ void tile_input_grad(const StepDev& s, int m0, const float* dl, float* w_sh) {
  const LayerDev& L = s.layer[s.layers - 1];
  const LayerDev& P = s.layer[s.layers - 2];
  const int in = L.in, classes = s.classes;
  for (int e = threadIdx.x; e < classes * in; e += mlp::kThreads) w_sh[e] = __ldg(L.w + e);
  __syncthreads();
  const int n = min(mlp::kTile, s.rows - m0) * in;
  constexpr int kPer = 8;
  for (int base = 0; base < n; base += kPer * mlp::kThreads) {
    float side[kPer];
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const int e = base + q * mlp::kThreads + threadIdx.x;
      side[q] = e < n && P.relu ? mlp::load_cg(P.y + static_cast<int64_t>(m0) * in + e) : 1.0f;
    }
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const int e = base + q * mlp::kThreads + threadIdx.x;
      if (e >= n) break;
      const int r = e / in, i = e % in;
      float v = 0.0f;
      for (int c = 0; c < classes; ++c) v = fmaf(dl[r * kZStride + c], w_sh[c * in + i], v);
      L.g_below[static_cast<int64_t>(m0) * in + e] = side[q] > 0.0f ? v : 0.0f;
    }
  }
}

}  // namespace kasmina::kernels::mlp_step
