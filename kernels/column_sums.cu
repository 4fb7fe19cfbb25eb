// Bias gradients and other plain column sums: out[c] = Σ_r x[r, c], deterministic; over float32
// or (train.precision: bf16) bf16 matrices, summed in fp32.
#include "core/bf16.hpp"
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

struct Bf16Term {
  const uint16_t* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    v[0] = bf16_bits_to_float(x[r * cols + c]);
  }
};

template <class Term>
void launch_sums(DeviceContext& ctx, Term term, int64_t rows, int64_t cols, float* out) {
  if (cols == 0) return;
  const kernels::ColumnChunks ch = kernels::column_chunks(rows);
  auto* partials =
      static_cast<float*>(scratch(ctx, static_cast<size_t>(ch.chunks * cols) * sizeof(float)));
  kernels::column_reduce<1>(ctx.stream, rows, cols, term, partials, out, nullptr);
}

}  // namespace

void launch_column_sums(DeviceContext& ctx, const float* x, int64_t rows, int64_t cols,
                        float* out) {
  launch_sums(ctx, PlainTerm{x, cols}, rows, cols, out);
}

void launch_column_sums_bf16(DeviceContext& ctx, const void* x, int64_t rows, int64_t cols,
                             float* out) {
  launch_sums(ctx, Bf16Term{static_cast<const uint16_t*>(x), cols}, rows, cols, out);
}

void column_sums(const Tensor& x, Tensor& out) {
  check_arg("column_sums", "x", x, x.device(), DType::f32);
  KASMINA_CHECK(x.ndim() == 2, "column_sums: x must be a matrix, got " + shape_str(x.shape()));
  check_arg("column_sums", "out", out, x.device(), DType::f32, {x.dim(1)});
  if (x.dim(0) == 0) return ops::cuda::fill(out, 0.0);
  launch_column_sums(context(x.device()), x.data<float>(), x.dim(0), x.dim(1), out.data<float>());
}

}  // namespace kasmina::ops::cuda
