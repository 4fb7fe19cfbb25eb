// Column-major GEMM through cuBLASLt with fused epilogues:
//   D[m,n] = op(A) · op(B)  (+ epilogue), ld* in elements, beta = 0 (D is overwritten).
// A and B are float32 or both bf16 (`ab_type`; bf16 computes in fp32, CUBLAS_COMPUTE_32F,
// whatever the math mode). D is float32 or, with bf16 inputs, bf16 (`d_type`: the bf16
// activations between linear layers); the bias and the bias gradient are float32 always
// (BIAS_DATA_TYPE), the GELU aux takes D's type (cuBLASLt's rule) and the ReLU aux is a bit mask;
// GELU/DGELU epilogues into a bf16 D are reported unavailable (inaccurate; gemm.cpp).
// Row-major callers compute the transposed product (see linear.cpp).
#pragma once
#include <cublasLt.h>

#include <cstdint>

#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

struct GemmSpec {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  cudaDataType_t ab_type = CUDA_R_32F;  // CUDA_R_32F or CUDA_R_16BF
  const void* a = nullptr;
  int64_t lda = 0;
  const void* b = nullptr;
  int64_t ldb = 0;
  void* d = nullptr;
  int64_t ldd = 0;
  cudaDataType_t d_type = CUDA_R_32F;  // CUDA_R_32F or (bf16 inputs only) CUDA_R_16BF
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;  // bias input (BIAS epilogues) or bias-gradient output (BGRAD)
  void* aux = nullptr;         // ReLU bit mask or GELU pre-activation
  int64_t aux_ld = 0;          // in elements (bits for the ReLU mask)
};

// The dtype of a GEMM's two inputs on `dev`: both float32 or both bf16 (an InternalError naming
// the op and the arguments otherwise).
inline DType gemm_input_dtype(const char* op, const char* a_name, const Tensor& a,
                              const char* b_name, const Tensor& b, Device dev) {
  check_on_device(op, a_name, a, dev);
  const DType dt = a.dtype();
  KASMINA_CHECK(
      dt == DType::f32 || dt == DType::bf16,
      std::string(op) + ": " + a_name + " is " + dtype_name(dt) + ", expected float32 or bfloat16");
  check_arg(op, b_name, b, dev, dt);
  return dt;
}

inline cudaDataType_t gemm_type_of(DType dt) {
  return dt == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F;
}

// Launches the GEMM on the context's stream. Returns false, launching nothing, when cuBLASLt
// has no algorithm for this epilogue and configuration (the caller then falls back to a plain
// GEMM and its own kernels). A plain GEMM that cannot run is an InternalError.
bool gemm(DeviceContext& ctx, const GemmSpec& spec);

}  // namespace kasmina::ops::cuda
