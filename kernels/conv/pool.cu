// Max and average pooling over square windows of NHWC float32 maps, and their launchers
// (namespace kasmina::ops::cuda). Forward: one thread per output element (channel fastest, so a
// warp reads consecutive channels of one position), the window visited by for_pool_window in
// row-major order as on the CPU. Backward: one thread per INPUT element, gathering the gradients
// of the windows that cover it (covering_outputs) in ascending output order: no atomics,
// deterministic, and the same additions in the same order as the CPU twins' scatter.
// Every kernel has one signature: (src, argmax in, dims, threads, 1/k², dst, argmax out).
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

// Output element o: its window's (oh, ow) and the offset of its image and channel in x.
struct OutputIndex {
  int64_t oh, ow, base;
};
__device__ OutputIndex output_index(const Dims& d, int64_t o) {
  const int64_t c = o % d.c, ow = (o / d.c) % d.wo, oh = (o / (d.c * d.wo)) % d.ho;
  return {oh, ow, o / (d.c * d.wo * d.ho) * d.h * d.w * d.c + c};
}

__global__ void maxpool_forward_kernel(const float* __restrict__ x, const int32_t*, Dims d,
                                       int64_t total, float, float* __restrict__ y,
                                       int32_t* __restrict__ argmax) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += stride) {
    const OutputIndex at = output_index(d, o);
    int64_t best = -1;
    float best_v = 0.0f;
    for_pool_window(at.oh, at.ow, d.k, d.stride, d.padding, d.h, d.w, [&](int64_t ih, int64_t iw) {
      const float v = x[at.base + (ih * d.w + iw) * d.c];
      if (best < 0 || v > best_v) {
        best = ih * d.w + iw;
        best_v = v;
      }
    });
    y[o] = best_v;
    argmax[o] = static_cast<int32_t>(best);
  }
}

__global__ void avgpool_forward_kernel(const float* __restrict__ x, const int32_t*, Dims d,
                                       int64_t total, float inv, float* __restrict__ y, int32_t*) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += stride) {
    const OutputIndex at = output_index(d, o);
    float s = 0.0f;
    for_pool_window(at.oh, at.ow, d.k, d.stride, d.padding, d.h, d.w,
                    [&](int64_t ih, int64_t iw) { s += x[at.base + (ih * d.w + iw) * d.c]; });
    y[o] = __fmul_rn(s, inv);
  }
}

// dx[n,h,w,c] = Σ over covering windows (ascending) of dy (max: where argmax is this position;
// average: dy·inv).
template <bool kMax>
__global__ void pool_backward_kernel(const float* __restrict__ dy,
                                     const int32_t* __restrict__ argmax, Dims d, int64_t total,
                                     float inv, float* __restrict__ dx, int32_t*) {
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

using PoolKernel = void (*)(const float*, const int32_t*, Dims, int64_t, float, float*, int32_t*);

// Checks a pooling call (`in` input-shaped, `out` output-shaped) and launches `kernel` with one
// thread per output element (forward: in -> out) or per input element (backward: out -> in).
void launch(const char* op, const char* name, PoolKernel kernel, const Tensor& in,
            const Tensor& out, const Tensor* argmax, const Pool2dParams& p, bool backward) {
  const PoolGeometry g = check_pool(op, in, out, argmax, p);
  check_arg(op, "input", in, in.device(), DType::f32);
  const int64_t total = backward ? in.numel() : out.numel();
  if (total == 0) return;
  const Tensor& src = backward ? out : in;
  const Tensor& dst = backward ? in : out;
  int32_t* am = argmax ? argmax->data<int32_t>() : nullptr;
  kernel<<<grid_for(total, kThreads), kThreads, 0, stream(in.device())>>>(
      src.data<float>(), backward ? am : nullptr,
      Dims{g.h, g.w, g.c, g.ho, g.wo, g.k, g.stride, g.padding}, total,
      1.0f / static_cast<float>(g.k * g.k), dst.data<float>(), backward ? nullptr : am);
  KASMINA_LAUNCH_CHECK(name);
}

}  // namespace

void maxpool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax) {
  launch("maxpool2d_forward", "maxpool_forward_kernel", &maxpool_forward_kernel, x, y, &argmax, p,
         false);
}

void maxpool2d_backward(const Tensor& dy, const Tensor& argmax, const Pool2dParams& p, Tensor& dx) {
  launch("maxpool2d_backward", "pool_backward_kernel<max>", &pool_backward_kernel<true>, dx, dy,
         &argmax, p, true);
}

void avgpool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  launch("avgpool2d_forward", "avgpool_forward_kernel", &avgpool_forward_kernel, x, y, nullptr, p,
         false);
}

void avgpool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  launch("avgpool2d_backward", "pool_backward_kernel<avg>", &pool_backward_kernel<false>, dx, dy,
         nullptr, p, true);
}

}  // namespace kasmina::ops::cuda
