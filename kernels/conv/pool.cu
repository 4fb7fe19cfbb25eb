// Max and average pooling over square windows of NHWC float32 maps, and their launchers
// (namespace kasmina::ops::cuda). Forward: one thread per output element (channel fastest, so
// a warp reads consecutive channels of one position). Backward: one thread per INPUT element,
// gathering the gradients of the windows that cover it (covering_outputs) in ascending output
// order: no atomics, deterministic, and the same additions in the same order as the CPU twins'
// scatter.
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

struct Dims {
  int64_t h, w, c, ho, wo, k, stride, padding;
};

Dims dims_of(const PoolGeometry& g) {
  return {g.h, g.w, g.c, g.ho, g.wo, g.k, g.stride, g.padding};
}

__global__ void maxpool_forward_kernel(const float* __restrict__ x, Dims d, int64_t total,
                                       float* __restrict__ y, int32_t* __restrict__ argmax) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += stride) {
    const int64_t c = o % d.c, ow = (o / d.c) % d.wo, oh = (o / (d.c * d.wo)) % d.ho;
    const int64_t n = o / (d.c * d.wo * d.ho);
    const float* img = x + n * d.h * d.w * d.c + c;
    int64_t best = -1;
    float best_v = 0.0f;
    for (int64_t i = 0; i < d.k; ++i) {
      const int64_t ih = oh * d.stride - d.padding + i;
      if (ih < 0 || ih >= d.h) continue;
      for (int64_t j = 0; j < d.k; ++j) {
        const int64_t iw = ow * d.stride - d.padding + j;
        if (iw < 0 || iw >= d.w) continue;
        const float v = img[(ih * d.w + iw) * d.c];
        if (best < 0 || v > best_v) {
          best = ih * d.w + iw;
          best_v = v;
        }
      }
    }
    y[o] = best_v;
    argmax[o] = static_cast<int32_t>(best);
  }
}

__global__ void avgpool_forward_kernel(const float* __restrict__ x, Dims d, int64_t total,
                                       float inv, float* __restrict__ y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += stride) {
    const int64_t c = o % d.c, ow = (o / d.c) % d.wo, oh = (o / (d.c * d.wo)) % d.ho;
    const int64_t n = o / (d.c * d.wo * d.ho);
    const float* img = x + n * d.h * d.w * d.c + c;
    float s = 0.0f;
    for (int64_t i = 0; i < d.k; ++i) {
      const int64_t ih = oh * d.stride - d.padding + i;
      if (ih < 0 || ih >= d.h) continue;
      for (int64_t j = 0; j < d.k; ++j) {
        const int64_t iw = ow * d.stride - d.padding + j;
        if (iw >= 0 && iw < d.w) s += img[(ih * d.w + iw) * d.c];
      }
    }
    y[o] = __fmul_rn(s, inv);
  }
}

// dx[n,h,w,c] = Σ over covering windows (ascending) of dy (max: where argmax is this position;
// average: dy·inv).
template <bool kMax>
__global__ void pool_backward_kernel(const float* __restrict__ dy,
                                     const int32_t* __restrict__ argmax, Dims d, int64_t total,
                                     float inv, float* __restrict__ dx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t c = i % d.c, iw = (i / d.c) % d.w, ih = (i / (d.c * d.w)) % d.h;
    const int64_t n = i / (d.c * d.w * d.h);
    const CoverRange rows = covering_outputs(ih, d.k, d.stride, d.padding, d.ho);
    const CoverRange cols = covering_outputs(iw, d.k, d.stride, d.padding, d.wo);
    const int32_t here = static_cast<int32_t>(ih * d.w + iw);
    float s = 0.0f;
    for (int64_t oh = rows.first; oh <= rows.last; ++oh) {
      for (int64_t ow = cols.first; ow <= cols.last; ++ow) {
        const int64_t o = ((n * d.ho + oh) * d.wo + ow) * d.c + c;
        if (kMax) {
          if (argmax[o] == here) s = __fadd_rn(s, dy[o]);
        } else {
          s = __fadd_rn(s, __fmul_rn(dy[o], inv));
        }
      }
    }
    dx[i] = s;
  }
}

PoolGeometry checked(const char* op, const Tensor& x, const char* xname, const Tensor& y,
                     const char* yname, const Pool2dParams& p) {
  check_arg(op, xname, x, x.device(), DType::f32);
  const PoolGeometry g = pool_geometry(op, x.shape(), p);
  check_arg(op, yname, y, x.device(), DType::f32, g.y_shape());
  return g;
}

}  // namespace

void maxpool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax) {
  constexpr const char* op = "maxpool2d_forward";
  const PoolGeometry g = checked(op, x, "x", y, "y", p);
  check_arg(op, "argmax", argmax, x.device(), DType::i32, g.y_shape());
  const int64_t total = y.numel();
  if (total == 0) return;
  maxpool_forward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream(x.device())>>>(
      x.data<float>(), dims_of(g), total, y.data<float>(), argmax.data<int32_t>());
  KASMINA_LAUNCH_CHECK("maxpool_forward_kernel");
}

void maxpool2d_backward(const Tensor& dy, const Tensor& argmax, const Pool2dParams& p, Tensor& dx) {
  constexpr const char* op = "maxpool2d_backward";
  const PoolGeometry g = checked(op, dx, "dx", dy, "dy", p);
  check_arg(op, "argmax", argmax, dx.device(), DType::i32, g.y_shape());
  const int64_t total = dx.numel();
  if (total == 0) return;
  pool_backward_kernel<true><<<grid_for(total, kThreads), kThreads, 0, stream(dx.device())>>>(
      dy.data<float>(), argmax.data<int32_t>(), dims_of(g), total, 0.0f, dx.data<float>());
  KASMINA_LAUNCH_CHECK("pool_backward_kernel<max>");
}

void avgpool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  constexpr const char* op = "avgpool2d_forward";
  const PoolGeometry g = checked(op, x, "x", y, "y", p);
  const int64_t total = y.numel();
  if (total == 0) return;
  avgpool_forward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream(x.device())>>>(
      x.data<float>(), dims_of(g), total, 1.0f / static_cast<float>(g.k * g.k), y.data<float>());
  KASMINA_LAUNCH_CHECK("avgpool_forward_kernel");
}

void avgpool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  constexpr const char* op = "avgpool2d_backward";
  const PoolGeometry g = checked(op, dx, "dx", dy, "dy", p);
  const int64_t total = dx.numel();
  if (total == 0) return;
  pool_backward_kernel<false><<<grid_for(total, kThreads), kThreads, 0, stream(dx.device())>>>(
      dy.data<float>(), nullptr, dims_of(g), total, 1.0f / static_cast<float>(g.k * g.k),
      dx.data<float>());
  KASMINA_LAUNCH_CHECK("pool_backward_kernel<avg>");
}

}  // namespace kasmina::ops::cuda
