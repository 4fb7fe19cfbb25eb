// Bias gradients and other plain column sums: out[c] = Σ_r x[r, c], deterministic.
#include "kernels/column_reduce.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/launch.hpp"

namespace kasmina::ops::cuda {

namespace {

struct PlainTerm {
  const float* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const { v[0] = x[r * cols + c]; }
};

}  // namespace

void launch_column_sums(DeviceContext& ctx, const float* x, int64_t rows, int64_t cols,
                        float* out) {
  if (cols == 0) return;
  const kernels::ColumnChunks ch = kernels::column_chunks(rows);
  auto* partials =
      static_cast<float*>(scratch(ctx, static_cast<size_t>(ch.chunks * cols) * sizeof(float)));
  kernels::column_reduce<1>(ctx.stream, rows, cols, PlainTerm{x, cols}, partials, out, nullptr);
}

void column_sums(const Tensor& x, Tensor& out) {
  check_arg("column_sums", "x", x, x.device(), DType::f32);
  KASMINA_CHECK(x.ndim() == 2, "column_sums: x must be a matrix, got " + shape_str(x.shape()));
  check_arg("column_sums", "out", out, x.device(), DType::f32, {x.dim(1)});
  if (x.dim(0) == 0) return ops::cuda::fill(out, 0.0);
  launch_column_sums(context(x.device()), x.data<float>(), x.dim(0), x.dim(1), out.data<float>());
}

}  // namespace kasmina::ops::cuda
