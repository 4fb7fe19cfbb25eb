// Mean over the middle dimension of [N, S, C] float32 (global average pooling of an NHWC map
// viewed as [N, H*W, C]; mean pooling over a transformer's tokens) and its launchers (namespace
// kasmina::ops::cuda). Forward: one thread per (n, c) summing its S values in order (a warp reads
// 32 consecutive channels of one position), then one division. Backward: one thread per
// element of dx, dy[n, c] / S.
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void global_avgpool_forward_kernel(const float* __restrict__ x, int64_t n, int64_t s,
                                              int64_t c, float* __restrict__ y) {
  const int64_t total = n * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t b = i / c, ch = i % c;
    const float* col = x + b * s * c + ch;
    float sum = 0.0f;
    for (int64_t t = 0; t < s; ++t) sum += col[t * c];
    y[i] = sum / static_cast<float>(s);
  }
}

__global__ void global_avgpool_backward_kernel(const float* __restrict__ dy, int64_t s, int64_t c,
                                               int64_t total, float inv, float* __restrict__ dx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t ch = i % c, b = i / (s * c);
    dx[i] = __fmul_rn(dy[b * c + ch], inv);
  }
}

}  // namespace

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  const SeqDims d = check_global_avgpool("global_avgpool_forward", x, y);
  check_arg("global_avgpool_forward", "x", x, x.device(), DType::f32);
  if (y.numel() == 0) return;
  global_avgpool_forward_kernel<<<grid_for(d.n * d.c, kThreads), kThreads, 0, stream(x.device())>>>(
      x.data<float>(), d.n, d.s, d.c, y.data<float>());
  KASMINA_LAUNCH_CHECK("global_avgpool_forward_kernel");
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  const SeqDims d = check_global_avgpool("global_avgpool_backward", dx, dy);
  check_arg("global_avgpool_backward", "dx", dx, dx.device(), DType::f32);
  const int64_t total = dx.numel();
  if (total == 0) return;
  global_avgpool_backward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream(dx.device())>>>(
      dy.data<float>(), d.s, d.c, total, 1.0f / static_cast<float>(d.s), dx.data<float>());
  KASMINA_LAUNCH_CHECK("global_avgpool_backward_kernel");
}

}  // namespace kasmina::ops::cuda
