// The IR-interpreting CUDA kernels (kernels/morph/ir_interpret.cu): ahead-of-time kernels that
// walk a blueprint's program (ir/program.hpp) per row, the slow but correct step of the fallback
// chain (src/ir/README.md) when no generated kernel can be had: NVRTC missing, a failed compile
// or load, or KASMINA_IR_BACKEND=interpreter. Their seed kernels do for a kind's seeds what the
// generated seed kernels do (ops/blueprint_seed_kernels.cpp), launched plainly (no programmatic
// dependent launch) on the layer's stream; values, gradients and factor rows live in a global
// workspace, one slice per thread.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/tensor.hpp"
#include "ir/graph.hpp"
#include "ir/plan.hpp"
#include "kernels/morph/ir_interpret_seed.cuh"
#include "ops/blueprint_codegen.hpp"

namespace kasmina::ops::cuda {

inline constexpr int32_t kIrInterpretThreads = 128;  // threads of every interpreting kernel

// The program on the device and the workspace (stride floats per thread of the launch).
using IrInterpretProgram = ir_interp::Program;

// Floats of workspace one thread of a seed kernel uses (values, their gradients, g, dx, factors).
int64_t ir_interpret_stride(const ir::Plan& plan);

// The seed kernels on `grid` blocks of kIrInterpretThreads (the workspace holds grid * threads
// slices). `a` as for the generated seed kernels.
void launch_ir_interpret_seed_forward(const IrSeedArgs& a, const IrInterpretProgram& q,
                                      int32_t grid, cudaStream_t stream);
void launch_ir_interpret_seed_backward(const IrSeedArgs& a, const IrInterpretProgram& q,
                                       int32_t grid, cudaStream_t stream);
// Row kernels, one thread per row (the workspace holds rows slices of q.stride floats):
// delta[r] = f(x[r]) - x[r]; dx[r] += J^T g[r] (dx may be null), F[r] the row's gradient factors
// (F may be null). Leading dimensions in floats.
void launch_ir_interpret_rows_delta(const IrInterpretProgram& q, int64_t rows, const float* x,
                                    int64_t ldx, const float* p, float* delta, int64_t ldd,
                                    cudaStream_t stream);
void launch_ir_interpret_rows_backward(const IrInterpretProgram& q, int64_t rows, const float* x,
                                       int64_t ldx, const float* g, int64_t ldg, const float* p,
                                       float* dx, int64_t lddx, float* F, int64_t ldf,
                                       cudaStream_t stream);

// The row kernels on device tensors (tests): x, g [rows, C], p [param_count]; delta, dx [rows,
// C], F [rows, factor_count] (dx and F may be null). The program and workspace are uploaded and
// allocated per call, and the call waits for the kernel (tests only).
void ir_interpret_row_delta(const ir::Graph& g, const ir::Plan& plan, const Tensor& x,
                            const Tensor& p, Tensor& delta);
void ir_interpret_row_backward(const ir::Graph& g, const ir::Plan& plan, const Tensor& x,
                               const Tensor& gy, const Tensor& p, Tensor* dx, Tensor* F);

}  // namespace kasmina::ops::cuda
