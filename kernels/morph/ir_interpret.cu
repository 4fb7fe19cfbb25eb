// The IR-interpreting kernels (src/ops/cuda/ir_interpret.hpp): the seed kernels (bodies in
// ir_interpret_seed.cuh: the generated seed kernels' semantics with the row functions of
// ir_interpret.cuh walking the program instead of compiled-in code) and the row kernels, one
// thread per row.
#include "kernels/morph/ir_interpret_seed.cuh"
#include "ops/cuda/cuda_common.hpp"
#include "ops/cuda/ir_interpret.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = kIrInterpretThreads;

__global__ void __launch_bounds__(kThreads)
    ir_interpret_seed_forward_kernel(const IrSeedArgs a, const IrInterpretProgram q) {
  __shared__ double red[kThreads];
  const ir_interp::Place at{static_cast<int32_t>(blockIdx.x), static_cast<int32_t>(gridDim.x),
                            static_cast<int32_t>(threadIdx.x), kThreads};
  ir_interp::seed_forward(a, q, at, red);
}

__global__ void __launch_bounds__(kThreads)
    ir_interpret_seed_backward_kernel(const IrSeedArgs a, const IrInterpretProgram q) {
  __shared__ double red[kThreads];
  const ir_interp::Place at{static_cast<int32_t>(blockIdx.x), static_cast<int32_t>(gridDim.x),
                            static_cast<int32_t>(threadIdx.x), kThreads};
  ir_interp::seed_backward(a, q, at, red);
}

__global__ void __launch_bounds__(kThreads)
    ir_interpret_rows_delta_kernel(const IrInterpretProgram q, int64_t rows, const float* x,
                                   int64_t ldx, const float* p, float* delta, int64_t ldd) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (r >= rows) return;
  ir_interp::row_delta(q.words, p, x + r * ldx, q.ws + r * q.stride, delta + r * ldd);
}

__global__ void __launch_bounds__(kThreads)
    ir_interpret_rows_backward_kernel(const IrInterpretProgram q, int64_t rows, const float* x,
                                      int64_t ldx, const float* g, int64_t ldg, const float* p,
                                      float* dx, int64_t lddx, float* F, int64_t ldf) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (r >= rows) return;
  float* v = q.ws + r * q.stride;
  ir_interp::row_backward(q.words, p, x + r * ldx, g + r * ldg, dx ? dx + r * lddx : nullptr,
                          F ? F + r * ldf : nullptr, v, v + q.scratch);
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kThreads - 1) / kThreads);
}

}  // namespace

void launch_ir_interpret_seed_forward(const IrSeedArgs& a, const IrInterpretProgram& q,
                                      int32_t grid, cudaStream_t stream) {
  ir_interpret_seed_forward_kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(a, q);
  KASMINA_LAUNCH_CHECK("ir_interpret_seed_forward_kernel");
}

void launch_ir_interpret_seed_backward(const IrSeedArgs& a, const IrInterpretProgram& q,
                                       int32_t grid, cudaStream_t stream) {
  ir_interpret_seed_backward_kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(a, q);
  KASMINA_LAUNCH_CHECK("ir_interpret_seed_backward_kernel");
}

void launch_ir_interpret_rows_delta(const IrInterpretProgram& q, int64_t rows, const float* x,
                                    int64_t ldx, const float* p, float* delta, int64_t ldd,
                                    cudaStream_t stream) {
  if (rows <= 0) return;
  ir_interpret_rows_delta_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(q, rows, x, ldx, p,
                                                                            delta, ldd);
  KASMINA_LAUNCH_CHECK("ir_interpret_rows_delta_kernel");
}

void launch_ir_interpret_rows_backward(const IrInterpretProgram& q, int64_t rows, const float* x,
                                       int64_t ldx, const float* g, int64_t ldg, const float* p,
                                       float* dx, int64_t lddx, float* F, int64_t ldf,
                                       cudaStream_t stream) {
  if (rows <= 0) return;
  ir_interpret_rows_backward_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(
      q, rows, x, ldx, g, ldg, p, dx, lddx, F, ldf);
  KASMINA_LAUNCH_CHECK("ir_interpret_rows_backward_kernel");
}

}  // namespace kasmina::ops::cuda
