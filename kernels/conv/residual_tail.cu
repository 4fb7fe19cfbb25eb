// The fused residual tail on the device (conv_ops.hpp; namespace kasmina::ops::cuda): one
// elementwise pass y = act(bn(x) + s) with s the skip or its own normalisation, and the identity
// shortcut's gradient dx = (y > 0 ? dy : 0) + g. Four channels per thread when C % 4 == 0 and
// the pointers are 16-byte aligned (kernels/conv/channel_vectors.cuh). Graph-safe, no host
// synchronisation. A normalisation's input x may be bf16 (a bf16 convolution's output, widened
// on the load); the skip, y and dy are float32, g float32 or bf16; y may also be stored in bf16
// beside the float32 one (the next block's convolutions' input).
#include <cstdint>

#include "kernels/conv/channel_vectors.cuh"
#include "kernels/vector_io.cuh"
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

using kernels::load_floats;
using kernels::store_floats;

constexpr int kThreads = 256;

// Device pointers of one normalisation (its input x of element type TX).
template <class TX>
struct NormPtrs {
  const TX* x;
  const float *gamma, *beta, *mean, *rstd;
};

template <class TX>
NormPtrs<TX> ptrs(const BatchNormTerm* t) {
  if (!t) return {};
  return {t->x->data<TX>(), t->gamma->data<float>(), t->beta->data<float>(), t->mean->data<float>(),
          t->rstd->data<float>()};
}

// gamma (x - mean) rstd + beta of V channels from element e (channel c), as batchnorm's apply.
template <int V, class Index, class TX>
__device__ __forceinline__ void normalise(const NormPtrs<TX>& n, Index e, Index c,
                                          float (&out)[V]) {
  float xv[V], m[V], rs[V], g[V], b[V];
  load_floats<V>(n.x, e, xv);
  load_floats<V>(n.mean, c, m);
  load_floats<V>(n.rstd, c, rs);
  load_floats<V>(n.gamma, c, g);
  load_floats<V>(n.beta, c, b);
#pragma unroll
  for (int q = 0; q < V; ++q) out[q] = (xv[q] - m[q]) * rs[q] * g[q] + b[q];
}

template <int V, class Index, class TB, class TS>
__global__ void residual_tail_kernel(NormPtrs<TB> body, NormPtrs<TS> skip_bn, bool has_skip_bn,
                                     const float* __restrict__ skip, bool relu, Index vectors,
                                     Index cols, float* __restrict__ y, bf16* __restrict__ y16) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    const Index e = i * V, c = e % cols;
    float h[V], s[V], out[V];
    normalise<V>(body, e, c, h);
    if (has_skip_bn) {
      normalise<V>(skip_bn, e, c, s);
    } else {
      load_floats<V>(skip, e, s);
    }
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const float o = __fadd_rn(h[q], s[q]);
      out[q] = relu && o < 0.0f ? 0.0f : o;
    }
    store_floats<V>(y, e, out);
    if (y16) store_floats<V>(y16, e, out);  // rounded to nearest-even, as cast_to_bf16
  }
}

template <int V, class Index, class TG>
__global__ void relu_mask_add_kernel(const float* dy, const float* y, const TG* g, Index vectors,
                                     float* dx) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    const Index e = i * V;
    float d[V], yv[V], gv[V], out[V];
    load_floats<V>(dy, e, d);
    load_floats<V>(y, e, yv);
    load_floats<V>(g, e, gv);
#pragma unroll
    for (int q = 0; q < V; ++q) out[q] = __fadd_rn(yv[q] > 0.0f ? d[q] : 0.0f, gv[q]);
    store_floats<V>(dx, e, out);
  }
}

}  // namespace

void batchnorm_residual_forward(const BatchNormTerm& body, const BatchNormTerm* skip_bn,
                                const Tensor& skip, bool relu, Tensor& y, Tensor* y16) {
  const BatchNormDims d = check_batchnorm_residual_forward(body, skip_bn, skip, y, y16);
  check_arg("batchnorm_residual_forward", "y", y, y.device(), DType::f32);
  const float* skip_ptr = skip_bn ? nullptr : skip.data<float>();
  const int v = kernels::channel_vector_width(
      d.cols,
      {body.x->raw(), body.gamma->raw(), body.beta->raw(), body.mean->raw(), body.rstd->raw(),
       skip_bn ? skip_bn->x->raw() : nullptr, skip_bn ? skip_bn->gamma->raw() : nullptr,
       skip_bn ? skip_bn->beta->raw() : nullptr, skip_bn ? skip_bn->mean->raw() : nullptr,
       skip_bn ? skip_bn->rstd->raw() : nullptr, skip_ptr, y.raw(), y16 ? y16->raw() : nullptr});
  const int64_t n = d.rows * d.cols;
  const cudaStream_t st = stream(y.device());
  const auto launch = [&](auto body_x, auto skip_x) {
    using TB = decltype(body_x);
    using TS = decltype(skip_x);
    const NormPtrs<TB> b = ptrs<TB>(&body);
    const NormPtrs<TS> s = ptrs<TS>(skip_bn);
    kernels::by_width_and_index(v, n, [&](auto vw, auto index) {
      constexpr int V = decltype(vw)::value;
      using I = decltype(index);
      residual_tail_kernel<V, I, TB, TS><<<grid_for(n / V, kThreads), kThreads, 0, st>>>(
          b, s, skip_bn != nullptr, skip_ptr, relu, static_cast<I>(n / V), static_cast<I>(d.cols),
          y.data<float>(), y16 ? y16->data<bf16>() : nullptr);
    });
  };
  // The normalisations' inputs: float32 or bf16 each (conv_geometry.hpp checked them).
  const bool body16 = body.x->dtype() == DType::bf16;
  const bool skip16 = skip_bn && skip_bn->x->dtype() == DType::bf16;
  kernels::by_storage_pair(body16, skip16, launch);
  KASMINA_LAUNCH_CHECK("residual_tail_kernel");
}

void relu_mask_add(const Tensor& dy, const Tensor& y, const Tensor& g, Tensor& dx) {
  const BatchNormDims d = check_relu_mask_add(dy, y, g, dx);
  check_arg("relu_mask_add", "dx", dx, dx.device(), DType::f32);
  const int64_t n = d.rows * d.cols;
  const int v = kernels::channel_vector_width(n, {dy.raw(), y.raw(), g.raw(), dx.raw()});
  const cudaStream_t st = stream(dx.device());
  // g: float32, or a bf16 input gradient widened on the load (conv_geometry.hpp checked it).
  const auto launch = [&](auto g_type) {
    using TG = decltype(g_type);
    kernels::by_width_and_index(v, n, [&](auto vw, auto index) {
      constexpr int V = decltype(vw)::value;
      using I = decltype(index);
      relu_mask_add_kernel<V, I, TG><<<grid_for(n / V, kThreads), kThreads, 0, st>>>(
          dy.data<float>(), y.data<float>(), g.data<TG>(), static_cast<I>(n / V), dx.data<float>());
    });
  };
  if (g.dtype() == DType::bf16) {
    launch(bf16{});
  } else {
    launch(0.0f);
  }
  KASMINA_LAUNCH_CHECK("relu_mask_add_kernel");
}

}  // namespace kasmina::ops::cuda
