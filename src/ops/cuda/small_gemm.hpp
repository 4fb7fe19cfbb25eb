// kasmina's own float32 GEMM for the skinny shapes of small MLPs (kernels/small_gemm.cu), with
// the epilogues of the linear ops: C[I,J] = Σ_l A(i,l) B(l,j), A(i,l) = a[i*a_i + l*a_l],
// B(l,j) = b[l*b_l + j*b_j], C row-major (ld J). Each output is one thread's fixed-order sum
// over l (deterministic); tiles of 16x16 or 32x32 outputs per block, chosen so that the grid
// covers the GPU. Launched with programmatic dependent launch when the context allows it.
#pragma once
#include <cstdint>

#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

struct SmallGemm {
  LinearGemm kind = LinearGemm::forward;
  const float* a = nullptr;
  int64_t a_i = 0, a_l = 0;
  const float* b = nullptr;
  int64_t b_l = 0, b_j = 0;
  float* c = nullptr;
  int64_t I = 0, J = 0, L = 0;
  Activation act = Activation::none;  // none or relu
  // forward: y = act(acc + bias[j]) and, for relu, the cuBLASLt-format bit mask (ld aux_ld bits).
  const float* bias = nullptr;
  // backward_input: C = acc ⊙ relu'(mask), col_sums[j] = Σ_i C[i,j] (optional).
  // backward_weight: row_sums[i] = Σ_l A(i,l) (optional; the bias gradient).
  void* aux = nullptr;
  int64_t aux_ld = 0;
  float* col_sums = nullptr;
  float* row_sums = nullptr;
};

// Launches the GEMM on the context's stream (I, J, L > 0; J <= 16 * kOwnGemmMaxColumnTiles).
void launch_small_gemm(DeviceContext& ctx, SmallGemm g);

}  // namespace kasmina::ops::cuda
