// CUDA C++ source generated from an IR graph laid out for one blueprint shape (ir/plan.hpp):
// the seam's row functions as two kernels, one thread per row of the seed's chunk, every value
// in registers or local memory (sizes are compile-time constants):
//   extern "C" __global__ void kasmina_ir_delta(int rows, const float* x, long long ldx,
//       const float* p, float* delta, long long ldd)
//   extern "C" __global__ void kasmina_ir_backward(int rows, const float* x, long long ldx,
//       const float* g, long long ldg, const float* p, float* dx, long long lddx,
//       float* F, long long ldf)
// delta = f(x) - x per row; backward adds J^T g to dx (when not null) and writes the row's
// gradient factors (plan.factor_count) to F (when not null), the parameter gradient being the
// plan's blocks of factor products (as for the built-ins). The arithmetic follows the CPU
// interpreter op for op (ir/interpreter.cpp), so the two agree within fp32 rounding.
#pragma once
#include <string>

#include "ir/graph.hpp"
#include "ir/plan.hpp"

namespace kasmina::ops {

// Bump when the generated code changes: it is part of the kernel cache key.
inline constexpr int kBlueprintCodegenVersion = 1;
inline constexpr const char* kIrDeltaKernel = "kasmina_ir_delta";
inline constexpr const char* kIrBackwardKernel = "kasmina_ir_backward";

std::string generate_blueprint_source(const ir::Graph& g, const ir::Plan& plan);

}  // namespace kasmina::ops
