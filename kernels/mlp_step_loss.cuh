// The loss phase of the fused MLP step (mlp_step.cu): one warp a row. With at most 32 classes a
// lane holds a class (the arithmetic of softmax_xent_row, softmax_xent_row.cuh, with one class a
// lane) and, when the last layer's weight fits shared memory, the warp goes on to the input
// gradient through the last layer for its row, so that gradient needs no GEMM phase of its own;
// it also computes the row's logits first (each lane its share of the row for every class, then
// a reduce-scatter across the warp), so the last layer needs no forward phase either. More classes:
// softmax_xent_row itself, and the logits and the input gradient are GEMM phases.
//
// Measured on the H200 (bench/RESULTS.md, eleventh session): this phase replaced the logits
// tile's tail (the block that finished a logits tile computed its 32 rows' loss and input
// gradient), which kept 4-8 blocks busy for ~13 us while the others waited at the barrier.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/mlp_step_tile.cuh"
#include "kernels/mlp_step_types.cuh"
#include "kernels/softmax_xent_row.cuh"
#include "kernels/warp_reduce.cuh"

namespace kasmina::kernels::mlp_step {

constexpr int kRowChunk = 4;  // input-gradient values per lane whose mask loads go out together

// One step of a warp's reduce-scatter of 2 * kHalf values a lane: the lane keeps the lower or
// the upper half (by its bit kHalf), adds its partner's values of that half, and the kept half
// moves to v[0 .. kHalf).
template <int kHalf>
__device__ __forceinline__ void reduce_scatter_step(float (&v)[32], int lane) {
  const bool upper = (lane & kHalf) != 0;
#pragma unroll
  for (int k = 0; k < kHalf; ++k) {
    const float send = upper ? v[k] : v[k + kHalf];
    const float keep = upper ? v[k + kHalf] : v[k];
    v[k] = keep + __shfl_xor_sync(0xffffffffu, send, kHalf);
  }
}

// Lane c's logit of row r (c < classes; other lanes return 0), stored to the last layer's y:
// z = Σ_i h[r, i] W[c, i] + b[c], ReLU'd if the layer has one, with h the layer below's output
// and W in w_sh at row stride in + 1. Each lane sums its own i (lane, lane + 32, ...; in order)
// for every class, then the warp adds the lanes' sums in a fixed tree that leaves class c's total
// in lane c (a reduce-scatter: 16 + 8 + 4 + 2 + 1 shuffles).
__device__ float logit_row(const StepDev& s, int r, int lane, const float* w_sh) {
  const LayerDev& L = s.layer[s.layers - 1];
  const int in = L.in, classes = s.classes;
  const float* h = s.layer[s.layers - 2].y + static_cast<int64_t>(r) * in;
  const float bias = L.b && lane < classes ? __ldg(L.b + lane) : 0.0f;
  float v[32];
#pragma unroll
  for (int c = 0; c < 32; ++c) v[c] = 0.0f;
  for (int i0 = 0; i0 < in; i0 += kRowChunk * 32) {
    float hv[kRowChunk];
#pragma unroll
    for (int q = 0; q < kRowChunk; ++q) {
      const int i = i0 + q * 32 + lane;
      hv[q] = i < in ? mlp::load_cg(h + i) : 0.0f;
    }
    // One copy of the 32 FMAs, rolled over the chunk's values (hv[0], then the next one moved
    // into it: register moves), so that the phase's code stays short (see loss_row).
#pragma unroll 1
    for (int q = 0; q < kRowChunk; ++q) {
      const int i = i0 + q * 32 + lane;
      if (i < in) {
        // Every slot, with no branch between the reads and the FMAs: a slot past the classes
        // sums the last class's weights again, which ends in a lane past the classes, unused.
#pragma unroll
        for (int c = 0; c < 32; ++c)
          v[c] = fmaf(hv[0], w_sh[min(c, classes - 1) * (in + 1) + i], v[c]);
      }
#pragma unroll
      for (int j = 0; j + 1 < kRowChunk; ++j) hv[j] = hv[j + 1];
    }
  }
  reduce_scatter_step<16>(v, lane);  // v[k]: class (lane & 16) + k
  reduce_scatter_step<8>(v, lane);   // v[k]: class (lane & 24) + k
  reduce_scatter_step<4>(v, lane);
  reduce_scatter_step<2>(v, lane);
  reduce_scatter_step<1>(v, lane);  // v[0]: class lane
  if (lane >= classes) return 0.0f;
  float z = v[0];
  if (L.b) z += bias;
  if (L.relu && !(z > 0.0f)) z = 0.0f;
  L.y[static_cast<int64_t>(r) * classes + lane] = z;
  return z;
}

// One row, classes <= 32: loss, hit and dlogits; with w_sh (the last layer's weight [classes,
// in] in shared memory at row stride in + 1), g_below[r, i] = Σ_c dlogits[r, c] W[c, i] (c in
// order), masked by the ReLU below, and with s.logits_in_loss the logits first (logit_row).
__device__ void loss_row(const StepDev& s, int r, int lane, const float* w_sh) {
  const LayerDev& L = s.layer[s.layers - 1];
  const int classes = s.classes, c = lane;
  const int32_t label = s.labels[r];
  const float z = w_sh && s.logits_in_loss ? logit_row(s, r, lane, w_sh)
                  : c < classes ? mlp::load_cg(L.y + static_cast<int64_t>(r) * classes + c)
                                : 0.0f;
  float best = -INFINITY;
  int64_t best_idx = classes;
  if (c < classes && (z > best || (z == best && c < best_idx))) best = z, best_idx = c;
  warp_argmax(best, best_idx);
  const float sum = warp_sum(c < classes ? expf(z - best) : 0.0f);
  const bool valid = label >= 0 && label < classes;
  const float z_label = __shfl_sync(0xffffffffu, z, valid ? label : 0);
  float g = 0.0f;
  if (c < classes) {
    const float prob = expf(z - best) * (1.0f / sum);
    g = (prob - (c == label ? 1.0f : 0.0f)) * s.grad_scale;
    s.dlogits[static_cast<int64_t>(r) * classes + c] = g;
  }
  if (c == 0) {
    s.row_loss[r] = valid ? static_cast<double>(logf(sum)) -
                                (static_cast<double>(z_label) - static_cast<double>(best))
                          : static_cast<double>(NAN);
    s.row_hit[r] = valid && best_idx == label ? 1 : 0;
  }
  if (w_sh == nullptr) return;
  const LayerDev& P = s.layer[s.layers - 2];
  const int in = L.in;
  const float* below = P.y + static_cast<int64_t>(r) * in;
  float* out = L.g_below + static_cast<int64_t>(r) * in;
  for (int i0 = 0; i0 < in; i0 += kRowChunk * 32) {  // warp-uniform: every lane shuffles
    float side[kRowChunk];
#pragma unroll
    for (int q = 0; q < kRowChunk; ++q) {
      const int i = i0 + q * 32 + lane;
      side[q] = i < in && P.relu ? mlp::load_cg(below + i) : 1.0f;
    }
    // Each value sums its classes in order; a class's dlogit is shuffled once for the chunk. The
    // class loop stays rolled: unrolled inside the chunk it was ~3300 instructions (53 KB of
    // code), which a step that finds them evicted from L2 fetches from memory (the cold rows).
    float v[kRowChunk];
#pragma unroll
    for (int q = 0; q < kRowChunk; ++q) v[q] = 0.0f;
#pragma unroll 1
    for (int k = 0; k < classes; ++k) {
      const float gk = __shfl_sync(0xffffffffu, g, k);
      const float* wk = w_sh + k * (in + 1) + i0 + lane;
#pragma unroll
      for (int q = 0; q < kRowChunk; ++q)
        v[q] = fmaf(gk, i0 + q * 32 + lane < in ? wk[q * 32] : 0.0f, v[q]);
    }
#pragma unroll
    for (int q = 0; q < kRowChunk; ++q) {
      const int i = i0 + q * 32 + lane;
      if (i < in) out[i] = side[q] > 0.0f ? v[q] : 0.0f;
    }
  }
}

// The loss phase: the last layer's weight staged in `w_sh` (kOperandFloats, free between tiles;
// row stride in + 1) when the phase computes the input gradient too, then a row per warp.
__device__ void loss_phase(const StepDev& s, float* w_sh) {
  const LayerDev& L = s.layer[s.layers - 1];
  const int warps = mlp::kThreads / 32, lane = threadIdx.x % 32;
  const int first = blockIdx.x * warps + threadIdx.x / 32;
  if (s.dx_in_loss) {
    if (blockIdx.x * warps >= s.rows) return;  // no row for this block
    const int nw = s.classes * L.in;
    constexpr int kPer = 8;  // loads in flight per thread
    for (int base = 0; base < nw; base += kPer * mlp::kThreads) {
      float w[kPer];
#pragma unroll
      for (int q = 0; q < kPer; ++q) {
        const int e = base + q * mlp::kThreads + threadIdx.x;
        w[q] = e < nw ? __ldg(L.w + e) : 0.0f;
      }
#pragma unroll
      for (int q = 0; q < kPer; ++q) {
        const int e = base + q * mlp::kThreads + threadIdx.x;
        if (e < nw) w_sh[e + e / L.in] = w[q];  // row e / in at stride in + 1
      }
    }
    __syncthreads();
    for (int r = first; r < s.rows; r += gridDim.x * warps) loss_row(s, r, lane, w_sh);
    __syncthreads();  // w_sh is reused by the next phase's tiles
    return;
  }
  for (int r = first; r < s.rows; r += gridDim.x * warps) {
    if (s.classes <= 32)
      loss_row(s, r, lane, nullptr);
    else
      kernels::softmax_xent_row<1>(L.y, s.labels, r, lane, s.classes, s.grad_scale, s.dlogits,
                                   s.row_loss, s.row_hit);
  }
}

}  // namespace kasmina::kernels::mlp_step
