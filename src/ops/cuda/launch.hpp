// Host-side launchers of internal CUDA kernels (defined in kernels/*.cu) that the C++ op code in
// src/ops/cuda/ combines with cuBLASLt calls. All are asynchronous on `s`.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops::cuda {

// Leading dimension (in elements; bits for ReLU) of the aux matrix of a fused linear layer with
// `cols` outputs, as cuBLASLt requires it: ReLU bit mask ld % 128 == 0, GELU input ld % 8 == 0.
constexpr int64_t linear_aux_ld(Activation act, int64_t cols) {
  const int64_t q = act == Activation::relu ? 128 : 8;
  return (cols + q - 1) / q * q;
}

// Checks that `aux` is the saved state make_linear_aux(rows, cols, act, dev, out) returns: the
// ReLU bit mask, or the GELU pre-activation in the output's type `out` (float32 or bf16).
inline void check_linear_aux(const char* op, Activation act, const Tensor& aux, int64_t rows,
                             int64_t cols, Device dev, DType out = DType::f32) {
  const int64_t ld = linear_aux_ld(act, cols);
  if (act == Activation::relu) {
    check_arg(op, "aux", aux, dev, DType::u8, {rows, ld / 8});
  } else if (act == Activation::gelu) {
    check_arg(op, "aux", aux, dev, out, {rows, ld});
  }
}

// y[M,N] = act(acc + bias) (acc may be y itself for a float32 y, or null for 0; bias may be
// null), computed in fp32 and stored in float32 or (bf16_out) bf16; writes aux in cuBLASLt's
// format (the GELU aux in y's type; aux may be null when act == none). Fallback for unavailable
// forward epilogues.
void launch_bias_activation_forward(cudaStream_t s, const float* acc, void* y, bool bf16_out,
                                    const float* bias, int64_t rows, int64_t cols, Activation act,
                                    void* aux, int64_t aux_ld);

// dpre[M,N] = dy ⊙ act'(pre) with pre recovered from aux (a GELU aux of bf16 values when
// bf16_aux), computed in fp32 and stored in float32 or (bf16_out) bf16 (dy and dpre may alias
// when both are float32).
void launch_activation_backward_from_aux(cudaStream_t s, Activation act, const float* dy,
                                         const void* aux, int64_t aux_ld, bool bf16_aux, void* dpre,
                                         bool bf16_out, int64_t rows, int64_t cols);

// The pass of activation_backward_aux_bf16 (kernels/activation_bf16.cu): dx[M,N] = bf16(g ⊙
// act'(pre)) with g float32 or (bf16_g; relu and none only) bf16 (g and dx may alias), pre from
// aux (a GELU aux of bf16 values when bf16_aux); with dbias, dbias[c] = Σ_r dx[r,c] over the
// stored values, fp32, fixed order, through `partials` (activation_bf16_partials(rows, cols)
// floats of device memory, not overlapping g or dx).
int64_t activation_bf16_partials(int64_t rows, int64_t cols);
void launch_activation_backward_bf16(const DeviceContext& ctx, Activation act, const void* g,
                                     bool bf16_g, const void* aux, int64_t aux_ld, bool bf16_aux,
                                     void* dx, int64_t rows, int64_t cols, float* partials,
                                     float* dbias);

// y[r, c] = bf16(y[r, c] + bias[c]) over a bf16 [rows, cols] matrix in place: the bias of a bf16
// convolution, added in fp32 to cuDNN's rounded output and rounded again (kernels/precision.cu;
// the CPU twin in src/ops/cpu/conv2d.cpp).
void launch_add_bias_bf16(cudaStream_t s, void* y, const float* bias, int64_t rows, int64_t cols);

// out[c] = Σ_r x[r,c] over a row-major [rows, cols] matrix; deterministic two-stage reduction
// (partials per row chunk in the context's scratch buffer, then a fixed-order sum).
void launch_column_sums(DeviceContext& ctx, const float* x, int64_t rows, int64_t cols, float* out);
// The same over a bf16 matrix, summed in fp32.
void launch_column_sums_bf16(DeviceContext& ctx, const void* x, int64_t rows, int64_t cols,
                             float* out);

// The weight gradient of a linear layer with at most kSkinnyMaxOut outputs over bf16 operands
// (kernels/skinny_wgrad.cu): dw[o, c] = Σ_r dy[r, o] x[r, c] (dw row-major [n, cols]) and, when
// db is not null, db[o] = Σ_r dy[r, o]; fp32 sums in a fixed order (the scratch buffer holds the
// per-chunk partials).
inline constexpr int64_t kSkinnyMaxOut = 16;
void launch_skinny_weight_grad(DeviceContext& ctx, const Tensor& dy, const Tensor& x, float* dw,
                               float* db);

// The `pass` route of a bf16 input gradient of a layer with at most kSkinnyMaxOut outputs through
// a ReLU, in one kernel (kernels/skinny_dgrad.cu): dx [rows, cols] = bf16(dy · w) masked by the
// ReLU bit mask (mask_ld bits a row), and, when dbias is not null, dbias[c] = Σ_r dx[r, c] over
// the stored values (fp32, fixed order; the scratch buffer holds the chunk partials).
void launch_skinny_input_grad_relu(DeviceContext& ctx, const Tensor& dy, const Tensor& w,
                                   const void* mask, int64_t mask_ld, Tensor& dx, float* dbias);

}  // namespace kasmina::ops::cuda
