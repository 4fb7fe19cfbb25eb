// Batch normalisation over the rows of [R, C] (an NHWC map viewed as [N*H*W, C]) and its
// launchers (namespace kasmina::ops::cuda). Per-channel statistics are column reductions
// (kernels/column_reduce.cuh: fixed chunking, no atomics, bitwise reproducible):
//   training forward  one pass of shifted sums Σd and Σd² with d = x - k, k = the channel's value
//                     in row 0 (the shifted-data variance: k is a sample of the same channel, so
//                     Σd²/R - (Σd/R)² does not cancel the way Σx²/R - mean² does for a channel
//                     whose mean is large against its spread); a per-channel kernel saves
//                     mean = k + Σd/R and rstd = 1/sqrt(var + eps) and updates the running
//                     statistics (running_var from the unbiased var·R/(R-1)); an elementwise
//                     kernel applies y = (x - mean)·rstd·gamma + beta (then ReLU);
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

// x - k and (x - k)² with k = x[0, c] (the shift of the one-pass variance).
struct ShiftedTerm {
  const float* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    const float d = x[r * cols + c] - x[c];
    v[0] = d;
    v[1] = d * d;
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

// In place: mean and rstd from the shifted sums Σd (in `mean`) and Σd² (in `rstd`); running
// updates.
__global__ void batchnorm_stats_kernel(const float* x, float* mean, float* rstd,
                                       float* running_mean, float* running_var, int64_t cols,
                                       float rows, float eps, float momentum) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const float md = mean[c] / rows;
  const float var = fmaxf(rstd[c] / rows - md * md, 0.0f);
  const float mu = x[c] + md;
  mean[c] = mu;
  rstd[c] = 1.0f / sqrtf(var + eps);
  running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mu;
  running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (var * rows / (rows - 1.0f));
}

// y = (x - mean)·rstd·gamma + beta (ReLU when relu). With `var` non-null, rstd is computed from
// it (evaluation: 1/sqrt(running_var + eps)). Index: uint32_t when n fits (the channel of an
// element is i % cols, and a 64-bit remainder is a long instruction sequence), else int64_t.
template <class Index>
__global__ void batchnorm_apply_kernel(const float* __restrict__ x, const float* mean,
                                       const float* rstd, const float* var, float eps,
                                       const float* gamma, const float* beta, bool relu, Index n,
                                       Index cols, float* __restrict__ y) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const Index c = i % cols;
    const float rs = var ? 1.0f / sqrtf(var[c] + eps) : rstd[c];
    const float out = (x[i] - mean[c]) * rs * gamma[c] + beta[c];
    y[i] = relu && out < 0.0f ? 0.0f : out;
  }
}

template <class Index>
__global__ void batchnorm_dx_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                    const float* __restrict__ y, const float* mean,
                                    const float* rstd, const float* gamma, const float* dgamma,
                                    const float* dbeta, float inv_rows, Index n, Index cols,
                                    float* __restrict__ dx) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const Index c = i % cols;
    const float g = y && !(y[i] > 0.0f) ? 0.0f : dy[i];
    const float xhat = (x[i] - mean[c]) * rstd[c];
    const float mean_g = dbeta[c] * inv_rows, mean_gx = dgamma[c] * inv_rows;
    dx[i] = gamma[c] * rstd[c] * (g - mean_g - xhat * mean_gx);
  }
}

// Launches kernel<uint32_t> when n fits in 31 bits (so a grid-stride index never wraps), else
// kernel<int64_t>.
template <class Launch>
void by_index_width(int64_t n, Launch launch) {
  if (n <= static_cast<int64_t>(INT32_MAX)) {  // i + stride stays below 2^32
    launch(uint32_t{});
  } else {
    launch(int64_t{});
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
  float* partials = partials_for(ctx, 2, d.rows, d.cols);
  kernels::column_reduce<2>(ctx.stream, d.rows, d.cols, ShiftedTerm{xs, d.cols}, partials, mean,
                            rstd);
  batchnorm_stats_kernel<<<grid_for(d.cols, kThreads), kThreads, 0, ctx.stream>>>(
      xs, mean, rstd, running_mean.data<float>(), running_var.data<float>(), d.cols, rows, p.eps,
      p.momentum);
  KASMINA_LAUNCH_CHECK("batchnorm_stats_kernel");
  const int64_t n = d.rows * d.cols;
  by_index_width(n, [&](auto index) {
    using I = decltype(index);
    batchnorm_apply_kernel<I><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(
        xs, mean, rstd, nullptr, p.eps, gamma.data<float>(), beta.data<float>(), p.relu,
        static_cast<I>(n), static_cast<I>(d.cols), y.data<float>());
  });
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
  by_index_width(n, [&](auto index) {
    using I = decltype(index);
    batchnorm_apply_kernel<I><<<grid_for(n, kThreads), kThreads, 0, s>>>(
        x.data<float>(), running_mean.data<float>(), nullptr, running_var.data<float>(), p.eps,
        gamma.data<float>(), beta.data<float>(), p.relu, static_cast<I>(n), static_cast<I>(d.cols),
        y.data<float>());
  });
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
  by_index_width(n, [&](auto index) {
    using I = decltype(index);
    batchnorm_dx_kernel<I><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(
        term.dy, term.x, ys, term.mean, term.rstd, gamma.data<float>(), dgamma.data<float>(),
        dbeta.data<float>(), 1.0f / static_cast<float>(d.rows), static_cast<I>(n),
        static_cast<I>(d.cols), dx.data<float>());
  });
  KASMINA_LAUNCH_CHECK("batchnorm_dx_kernel");
}

}  // namespace kasmina::ops::cuda
