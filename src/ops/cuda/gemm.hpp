// Column-major float32 GEMM through cuBLASLt with fused epilogues:
//   D[m,n] = op(A) · op(B)  (+ epilogue), ld* in elements, beta = 0 (D is overwritten).
// Row-major callers compute the transposed product (see linear.cpp).
#pragma once
#include <cublasLt.h>

#include <cstdint>

#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

struct GemmSpec {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float* d = nullptr;
  int64_t ldd = 0;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;  // bias input (BIAS epilogues) or bias-gradient output (BGRAD)
  void* aux = nullptr;         // ReLU bit mask or GELU pre-activation
  int64_t aux_ld = 0;          // in elements (bits for the ReLU mask)
};

// Launches the GEMM on the context's stream. Returns false, launching nothing, when cuBLASLt
// has no algorithm for this epilogue and configuration (the caller then falls back to a plain
// GEMM and its own kernels). A plain GEMM that cannot run is an InternalError.
bool gemm(DeviceContext& ctx, const GemmSpec& spec);

}  // namespace kasmina::ops::cuda
