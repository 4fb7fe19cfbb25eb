// Batch normalisation over the rows of [R, C] (an NHWC map viewed as [N*H*W, C]) and its
// launchers (namespace kasmina::ops::cuda). Per-channel statistics are column reductions
// (kernels/column_reduce.cuh: fixed chunking, no atomics, bitwise reproducible):
//   training forward  Σx -> mean; Σ(x - mean)² -> biased var (two passes); a per-channel kernel
//                     saves mean and rstd = 1/sqrt(var + eps) and updates the running statistics
//                     (running_var from the unbiased var·R/(R-1)); an elementwise kernel applies
//                     y = (x - mean)·rstd·gamma + beta (then ReLU);
//   eval forward      the elementwise kernel with the running statistics;
//   backward          Σg and Σg·x̂ in one two-output reduction (g = dy, masked by y > 0 with the
//                     fused ReLU), then dx = gamma·rstd·(g - Σg/R - x̂·Σg·x̂/R) elementwise.
#include "kernels/column_reduce.cuh"
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

struct SumTerm {
  const float* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const { v[0] = x[r * cols + c]; }
};

// (x - Σx/R)²; `sums` holds the column sums of the first pass.
struct SquaredDeviationTerm {
  const float* x;
  const float* sums;
  float rows;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    const float d = x[r * cols + c] - sums[c] / rows;
    v[0] = d * d;
  }
};

// g and g·x̂ of the backward pass.
struct BackwardTerm {
  const float* dy;
  const float* x;
  const float* y;  // null without the fused ReLU
  const float* mean;
  const float* rstd;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    const int64_t i = r * cols + c;
    const float g = y && !(y[i] > 0.0f) ? 0.0f : dy[i];
    v[0] = g;
    v[1] = g * ((x[i] - mean[c]) * rstd[c]);
  }
};

// In place: mean (from the sums) and rstd (from the squared deviations); running updates.
__global__ void batchnorm_stats_kernel(float* mean, float* rstd, float* running_mean,
                                       float* running_var, int64_t cols, float rows, float eps,
                                       float momentum) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const float mu = mean[c] / rows;
  const float var = rstd[c] / rows;
  mean[c] = mu;
  rstd[c] = 1.0f / sqrtf(var + eps);
  running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mu;
  running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (var * rows / (rows - 1.0f));
}

// y = (x - mean)·rstd·gamma + beta (ReLU when relu). With `var` non-null, rstd is computed from
// it (evaluation: 1/sqrt(running_var + eps)).
__global__ void batchnorm_apply_kernel(const float* __restrict__ x, const float* mean,
                                       const float* rstd, const float* var, float eps,
                                       const float* gamma, const float* beta, bool relu, int64_t n,
                                       int64_t cols, float* __restrict__ y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t c = i % cols;
    const float rs = var ? 1.0f / sqrtf(var[c] + eps) : rstd[c];
    const float out = (x[i] - mean[c]) * rs * gamma[c] + beta[c];
    y[i] = relu && out < 0.0f ? 0.0f : out;
  }
}

__global__ void batchnorm_dx_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                    const float* __restrict__ y, const float* mean,
                                    const float* rstd, const float* gamma, const float* dgamma,
                                    const float* dbeta, float inv_rows, int64_t n, int64_t cols,
                                    float* __restrict__ dx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t c = i % cols;
    const float g = y && !(y[i] > 0.0f) ? 0.0f : dy[i];
    const float xhat = (x[i] - mean[c]) * rstd[c];
    const float mean_g = dbeta[c] * inv_rows, mean_gx = dgamma[c] * inv_rows;
    dx[i] = gamma[c] * rstd[c] * (g - mean_g - xhat * mean_gx);
  }
}

float* partials_for(DeviceContext& ctx, int nout, int64_t rows, int64_t cols) {
  const kernels::ColumnChunks ch = kernels::column_chunks(rows);
  return static_cast<float*>(
      scratch(ctx, static_cast<size_t>(nout * ch.chunks * cols) * sizeof(float)));
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const BatchNormParams& p, Tensor& running_mean, Tensor& running_var,
                             Tensor& y, Tensor& save_mean, Tensor& save_rstd) {
  const BatchNormDims d = check_batchnorm_forward_train(x, gamma, beta, running_mean, running_var,
                                                        y, save_mean, save_rstd);
  check_arg("batchnorm_forward_train", "x", x, x.device(), DType::f32);
  DeviceContext& ctx = context(x.device());
  const float* xs = x.data<float>();
  float *mean = save_mean.data<float>(), *rstd = save_rstd.data<float>();
  const auto rows = static_cast<float>(d.rows);
  float* partials = partials_for(ctx, 1, d.rows, d.cols);
  kernels::column_reduce<1>(ctx.stream, d.rows, d.cols, SumTerm{xs, d.cols}, partials, mean,
                            nullptr);
  kernels::column_reduce<1>(ctx.stream, d.rows, d.cols,
                            SquaredDeviationTerm{xs, mean, rows, d.cols}, partials, rstd, nullptr);
  batchnorm_stats_kernel<<<grid_for(d.cols, kThreads), kThreads, 0, ctx.stream>>>(
      mean, rstd, running_mean.data<float>(), running_var.data<float>(), d.cols, rows, p.eps,
      p.momentum);
  KASMINA_LAUNCH_CHECK("batchnorm_stats_kernel");
  const int64_t n = d.rows * d.cols;
  batchnorm_apply_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(
      xs, mean, rstd, nullptr, p.eps, gamma.data<float>(), beta.data<float>(), p.relu, n, d.cols,
      y.data<float>());
  KASMINA_LAUNCH_CHECK("batchnorm_apply_kernel");
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const BatchNormParams& p, const Tensor& running_mean,
                            const Tensor& running_var, Tensor& y) {
  const BatchNormDims d =
      check_batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, y);
  check_arg("batchnorm_forward_eval", "x", x, x.device(), DType::f32);
  const int64_t n = d.rows * d.cols;
  const cudaStream_t s = stream(x.device());
  batchnorm_apply_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
      x.data<float>(), running_mean.data<float>(), nullptr, running_var.data<float>(), p.eps,
      gamma.data<float>(), beta.data<float>(), p.relu, n, d.cols, y.data<float>());
  KASMINA_LAUNCH_CHECK("batchnorm_apply_kernel");
}

void batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& gamma,
                        const Tensor& save_mean, const Tensor& save_rstd, const BatchNormParams& p,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const BatchNormDims d =
      check_batchnorm_backward(dy, x, y, gamma, save_mean, save_rstd, p.relu, dx, dgamma, dbeta);
  check_arg("batchnorm_backward", "dy", dy, dy.device(), DType::f32);
  DeviceContext& ctx = context(dy.device());
  const float* ys = p.relu ? y.data<float>() : nullptr;
  const BackwardTerm term{dy.data<float>(),        x.data<float>(),         ys,
                          save_mean.data<float>(), save_rstd.data<float>(), d.cols};
  float* partials = partials_for(ctx, 2, d.rows, d.cols);
  kernels::column_reduce<2>(ctx.stream, d.rows, d.cols, term, partials, dbeta.data<float>(),
                            dgamma.data<float>());
  const int64_t n = d.rows * d.cols;
  batchnorm_dx_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(
      term.dy, term.x, ys, term.mean, term.rstd, gamma.data<float>(), dgamma.data<float>(),
      dbeta.data<float>(), 1.0f / static_cast<float>(d.rows), n, d.cols, dx.data<float>());
  KASMINA_LAUNCH_CHECK("batchnorm_dx_kernel");
}

}  // namespace kasmina::ops::cuda
