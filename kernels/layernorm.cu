// LayerNorm over the last dimension, one warp per row. Forward: two-pass mean and biased
// variance, rstd = 1 / sqrt(var + eps), y = (x - mean) rstd gamma + beta; mean and rstd saved.
// Backward: dx = rstd (g - mean(g) - x̂ mean(g x̂)) with g = dy gamma (warp per row);
// dgamma = Σ dy x̂ and dbeta = Σ dy by the deterministic two-stage column reduction.
#include "kernels/column_reduce.cuh"
#include "kernels/vector_io.cuh"
#include "kernels/warp_reduce.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/cuda/side_lane.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kRowsPerBlock = 8;

// V = 4: 16-byte accesses (cols % 4 == 0 and 16-byte aligned rows); V = 1 otherwise.
template <int V>
__global__ void layernorm_forward_kernel(const float* __restrict__ x,
                                         const float* __restrict__ gamma,
                                         const float* __restrict__ beta, float eps, int64_t rows,
                                         int64_t cols, float* __restrict__ y,
                                         float* __restrict__ mean, float* __restrict__ rstd) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;
  const float* xr = x + row * cols;
  float sum = 0.0f;
  for (int64_t c = lane * V; c < cols; c += 32 * V) {
    float v[V];
    kernels::load_floats<V>(xr, c, v);
#pragma unroll
    for (int j = 0; j < V; ++j) sum += v[j];
  }
  const float mu = kernels::warp_sum(sum) / static_cast<float>(cols);
  float sq = 0.0f;
  for (int64_t c = lane * V; c < cols; c += 32 * V) {
    float v[V];
    kernels::load_floats<V>(xr, c, v);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float d = v[j] - mu;
      sq += d * d;
    }
  }
  const float var = kernels::warp_sum(sq) / static_cast<float>(cols);
  const float rs = 1.0f / sqrtf(var + eps);
  float* yr = y + row * cols;
  for (int64_t c = lane * V; c < cols; c += 32 * V) {
    float v[V], g[V], b[V], out[V];
    kernels::load_floats<V>(xr, c, v);
    kernels::load_floats<V>(gamma, c, g);
    kernels::load_floats<V>(beta, c, b);
#pragma unroll
    for (int j = 0; j < V; ++j) out[j] = (v[j] - mu) * rs * g[j] + b[j];
    kernels::store_floats<V>(yr, c, out);
  }
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

template <int V>
__global__ void layernorm_backward_dx_kernel(const float* __restrict__ dy,
                                             const float* __restrict__ x,
                                             const float* __restrict__ gamma,
                                             const float* __restrict__ mean,
                                             const float* __restrict__ rstd, int64_t rows,
                                             int64_t cols, float* __restrict__ dx) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;
  const float* dyr = dy + row * cols;
  const float* xr = x + row * cols;
  const float mu = mean[row], rs = rstd[row];
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int64_t c = lane * V; c < cols; c += 32 * V) {
    float d[V], v[V], gm[V];
    kernels::load_floats<V>(dyr, c, d);
    kernels::load_floats<V>(xr, c, v);
    kernels::load_floats<V>(gamma, c, gm);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float g = d[j] * gm[j];
      sum_g += g;
      sum_gx += g * ((v[j] - mu) * rs);
    }
  }
  const float mean_g = kernels::warp_sum(sum_g) / static_cast<float>(cols);
  const float mean_gx = kernels::warp_sum(sum_gx) / static_cast<float>(cols);
  float* dxr = dx + row * cols;
  for (int64_t c = lane * V; c < cols; c += 32 * V) {
    float d[V], v[V], gm[V], out[V];
    kernels::load_floats<V>(dyr, c, d);
    kernels::load_floats<V>(xr, c, v);
    kernels::load_floats<V>(gamma, c, gm);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float xhat = (v[j] - mu) * rs;
      out[j] = rs * (d[j] * gm[j] - mean_g - xhat * mean_gx);
    }
    kernels::store_floats<V>(dxr, c, out);
  }
}

struct LayerNormParamGradTerm {
  const float* dy;
  const float* x;
  const float* mean;
  const float* rstd;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    const int64_t i = r * cols + c;
    const float g = dy[i];
    v[0] = g * ((x[i] - mean[r]) * rstd[r]);
    v[1] = g;
  }
};

}  // namespace

void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                       Tensor& y, Tensor& mean, Tensor& rstd) {
  constexpr const char* op = "layernorm_forward";
  const Device dev = x.device();
  check_arg(op, "x", x, dev, DType::f32);
  const auto [rows, cols] = matrix_dims(op, "x", x);
  KASMINA_CHECK(cols > 0, std::string(op) + ": rows of width 0 have no statistics");
  KASMINA_CHECK(eps >= 0.0f, std::string(op) + ": eps must be non-negative");
  check_arg(op, "gamma", gamma, dev, DType::f32, {cols});
  check_arg(op, "beta", beta, dev, DType::f32, {cols});
  check_arg(op, "y", y, dev, DType::f32, {rows, cols});
  check_arg(op, "mean", mean, dev, DType::f32, {rows});
  check_arg(op, "rstd", rstd, dev, DType::f32, {rows});
  if (rows == 0) return;
  const auto blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const bool vec = cols % 4 == 0 && aligned16(x.raw()) && aligned16(gamma.raw()) &&
                   aligned16(beta.raw()) && aligned16(y.raw());
  auto kernel = vec ? layernorm_forward_kernel<4> : layernorm_forward_kernel<1>;
  kernel<<<blocks, kRowsPerBlock * 32, 0, stream(dev)>>>(
      x.data<float>(), gamma.data<float>(), beta.data<float>(), eps, rows, cols, y.data<float>(),
      mean.data<float>(), rstd.data<float>());
  KASMINA_LAUNCH_CHECK("layernorm_forward_kernel");
}

void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                        const Tensor& rstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  constexpr const char* op = "layernorm_backward";
  const Device dev = dy.device();
  check_arg(op, "dy", dy, dev, DType::f32);
  const auto [rows, cols] = matrix_dims(op, "dy", dy);
  check_arg(op, "x", x, dev, DType::f32, {rows, cols});
  check_arg(op, "gamma", gamma, dev, DType::f32, {cols});
  check_arg(op, "mean", mean, dev, DType::f32, {rows});
  check_arg(op, "rstd", rstd, dev, DType::f32, {rows});
  check_arg(op, "dx", dx, dev, DType::f32, {rows, cols});
  check_arg(op, "dgamma", dgamma, dev, DType::f32, {cols});
  check_arg(op, "dbeta", dbeta, dev, DType::f32, {cols});
  if (cols == 0) return;
  DeviceContext& ctx = context(dev);
  if (rows > 0) {
    const auto blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
    const bool vec = cols % 4 == 0 && aligned16(dy.raw()) && aligned16(x.raw()) &&
                     aligned16(gamma.raw()) && aligned16(dx.raw());
    auto kernel = vec ? layernorm_backward_dx_kernel<4> : layernorm_backward_dx_kernel<1>;
    kernel<<<blocks, kRowsPerBlock * 32, 0, ctx.stream>>>(
        dy.data<float>(), x.data<float>(), gamma.data<float>(), mean.data<float>(),
        rstd.data<float>(), rows, cols, dx.data<float>());
    KASMINA_LAUNCH_CHECK("layernorm_backward_dx_kernel");
  }
  // dgamma and dbeta only feed the optimizer: off the critical path inside an ops::OffPathScope.
  const SideLane lane(ctx);
  const kernels::ColumnChunks ch = kernels::column_chunks(rows);
  auto* partials =
      static_cast<float*>(scratch(ctx, static_cast<size_t>(2 * ch.chunks * cols) * sizeof(float)));
  kernels::column_reduce<2>(ctx.stream, rows, cols,
                            LayerNormParamGradTerm{dy.data<float>(), x.data<float>(),
                                                   mean.data<float>(), rstd.data<float>(), cols},
                            partials, dgamma.data<float>(), dbeta.data<float>());
}

}  // namespace kasmina::ops::cuda
