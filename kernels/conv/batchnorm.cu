// Batch normalisation over the rows of [R, C] (an NHWC map viewed as [N*H*W, C]) and its
// launchers (namespace kasmina::ops::cuda). Per-channel sums are column reductions in one launch
// (kernels/conv/bn_columns.cuh: fixed chunks of rows, no atomics on data, bitwise reproducible;
// the last block finishes the statistics), so each direction is two kernels:
//   training forward  one pass of shifted sums Σd and Σd² with d = x - k, k = the channel's value
//                     in row 0 (the shifted-data variance: k is a sample of the same channel, so
//                     Σd²/R - (Σd/R)² does not cancel the way Σx²/R - mean² does for a channel
//                     whose mean is large against its spread); the last block saves
//                     mean = k + Σd/R and rstd = 1/sqrt(var + eps) and updates the running
//                     statistics (running_var from the unbiased var·R/(R-1)); an elementwise
//                     kernel applies y = (x - mean)·rstd·gamma + beta (then ReLU);
//   eval forward      the elementwise kernel with the running statistics;
//   backward          Σg and Σg·x̂ in one two-output reduction (g = dy, masked by y > 0 with the
//                     fused ReLU) whose last block writes dbeta and dgamma, then
//                     dx = gamma·rstd·(g - Σg/R - x̂·Σg·x̂/R) elementwise.
// The elementwise kernels and the reductions take four channels per thread (16-byte accesses)
// when C % 4 == 0 and every pointer is 16-byte aligned. More than 1024 channels take the
// two-launch column_reduce.cuh path and a statistics kernel. The maps are float32 or bf16, the
// input side (x, dx: TIn) and the output side (y, dy: TOut) each (bf16 widened on the load, the
// arithmetic and every sum in fp32, a bf16 y or dx rounded once on the store); the per-channel
// tensors are float32.
#include <cstdint>

#include "kernels/column_reduce.cuh"
#include "kernels/conv/bn_columns.cuh"
#include "kernels/conv/channel_vectors.cuh"
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

using kernels::by_width_and_index;
using kernels::load_float;
using kernels::load_floats;
using kernels::store_floats;

constexpr int kThreads = 256;

// x - k and (x - k)² with k = x[0, c] (the shift of the one-pass variance).
template <class T>
struct ShiftedTerm {
  const T* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    const float d = load_float(x, r * cols + c) - load_float(x, c);
    v[0] = d;
    v[1] = d * d;
  }
  template <int V>
  __device__ void load(int64_t r, int c, float (&v)[2][V]) const {
    float a[V], k[V];
    load_floats<V>(x, r * cols + c, a);
    load_floats<V>(x, c, k);
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const float d = a[q] - k[q];
      v[0][q] = d;
      v[1][q] = d * d;
    }
  }
};

// g and g·x̂ of the backward pass.
template <class TIn, class TOut>
struct BackwardTerm {
  const TOut* dy;
  const TIn* x;
  const TOut* y;  // null without the fused ReLU
  const float* mean;
  const float* rstd;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    const int64_t i = r * cols + c;
    const float g = y && !(load_float(y, i) > 0.0f) ? 0.0f : load_float(dy, i);
    v[0] = g;
    v[1] = g * ((load_float(x, i) - mean[c]) * rstd[c]);
  }
  template <int V>
  __device__ void load(int64_t r, int c, float (&v)[2][V]) const {
    const int64_t i = r * cols + c;
    float g[V], xv[V], m[V], rs[V];
    load_floats<V>(dy, i, g);
    load_floats<V>(x, i, xv);
    load_floats<V>(mean, c, m);
    load_floats<V>(rstd, c, rs);
    if (y) {
      float yv[V];
      load_floats<V>(y, i, yv);
#pragma unroll
      for (int q = 0; q < V; ++q)
        if (!(yv[q] > 0.0f)) g[q] = 0.0f;
    }
#pragma unroll
    for (int q = 0; q < V; ++q) {
      v[0][q] = g[q];
      v[1][q] = g[q] * ((xv[q] - m[q]) * rs[q]);
    }
  }
};

// What finishing a column's statistics reads besides its sums: the shift k = x[0, c] and the
// running statistics (loaded before the sums are known: bn_columns.cuh's prefetch).
struct StatsInputs {
  float k, running_mean, running_var;
};

// mean and rstd of column c from its shifted sums Σd, Σd²; running updates.
__device__ __forceinline__ void finish_stats(int c, float sum_d, float sum_d2,
                                             const StatsInputs& in, float* mean, float* rstd,
                                             float* running_mean, float* running_var, float rows,
                                             float eps, float momentum) {
  const float md = sum_d / rows;
  const float var = fmaxf(sum_d2 / rows - md * md, 0.0f);
  const float mu = in.k + md;
  mean[c] = mu;
  rstd[c] = 1.0f / sqrtf(var + eps);
  running_mean[c] = (1.0f - momentum) * in.running_mean + momentum * mu;
  running_var[c] = (1.0f - momentum) * in.running_var + momentum * (var * rows / (rows - 1.0f));
}

template <class T>
struct StatsFinish {
  using Pre = StatsInputs;
  const T* x;
  float *mean, *rstd, *running_mean, *running_var;
  float rows, eps, momentum;
  __device__ Pre prefetch(int c) const {
    return {load_float(x, c), running_mean[c], running_var[c]};
  }
  __device__ void operator()(int c, const float (&tot)[2], const Pre& in) const {
    finish_stats(c, tot[0], tot[1], in, mean, rstd, running_mean, running_var, rows, eps, momentum);
  }
};

struct GradFinish {
  struct Pre {};
  float *dbeta, *dgamma;
  __device__ Pre prefetch(int) const { return {}; }
  __device__ void operator()(int c, const float (&tot)[2], const Pre&) const {
    dbeta[c] = tot[0];
    dgamma[c] = tot[1];
  }
};

// The statistics kernel of the two-launch path: in place, mean and rstd from the shifted sums
// Σd (in `mean`) and Σd² (in `rstd`).
template <class T>
__global__ void batchnorm_stats_kernel(const T* x, float* mean, float* rstd, float* running_mean,
                                       float* running_var, int64_t cols, float rows, float eps,
                                       float momentum) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const StatsInputs in{load_float(x, c), running_mean[c], running_var[c]};
  finish_stats(static_cast<int>(c), mean[c], rstd[c], in, mean, rstd, running_mean, running_var,
               rows, eps, momentum);
}

// y = (x - mean)·rstd·gamma + beta (ReLU when relu) over n / V vectors of V channels. With
// `var` non-null, rstd is computed from it (evaluation: 1/sqrt(running_var + eps)). Index:
// uint32_t when n fits (the channel of an element is e % cols, and a 64-bit remainder is a long
// instruction sequence), else int64_t.
template <int V, class Index, class TIn, class TOut>
__global__ void batchnorm_apply_kernel(const TIn* __restrict__ x, const float* mean,
                                       const float* rstd, const float* var, float eps,
                                       const float* gamma, const float* beta, bool relu,
                                       Index vectors, Index cols, TOut* __restrict__ y) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    const Index e = i * V, c = e % cols;
    float xv[V], m[V], rs[V], g[V], b[V], out[V];
    load_floats<V>(x, e, xv);
    load_floats<V>(mean, c, m);
    load_floats<V>(var ? var : rstd, c, rs);
    load_floats<V>(gamma, c, g);
    load_floats<V>(beta, c, b);
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const float r = var ? 1.0f / sqrtf(rs[q] + eps) : rs[q];
      const float o = (xv[q] - m[q]) * r * g[q] + b[q];
      out[q] = relu && o < 0.0f ? 0.0f : o;
    }
    store_floats<V>(y, e, out);
  }
}

template <int V, class Index, class TIn, class TOut>
__global__ void batchnorm_dx_kernel(const TOut* __restrict__ dy, const TIn* __restrict__ x,
                                    const TOut* __restrict__ y, const float* mean,
                                    const float* rstd, const float* gamma, const float* dgamma,
                                    const float* dbeta, float inv_rows, Index vectors, Index cols,
                                    TIn* __restrict__ dx) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    const Index e = i * V, c = e % cols;
    float g[V], xv[V], m[V], rs[V], gm[V], dg[V], db[V], out[V];
    load_floats<V>(dy, e, g);
    load_floats<V>(x, e, xv);
    if (y) {
      float yv[V];
      load_floats<V>(y, e, yv);
#pragma unroll
      for (int q = 0; q < V; ++q)
        if (!(yv[q] > 0.0f)) g[q] = 0.0f;
    }
    load_floats<V>(mean, c, m);
    load_floats<V>(rstd, c, rs);
    load_floats<V>(gamma, c, gm);
    load_floats<V>(dgamma, c, dg);
    load_floats<V>(dbeta, c, db);
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const float xhat = (xv[q] - m[q]) * rs[q];
      const float mean_g = db[q] * inv_rows, mean_gx = dg[q] * inv_rows;
      out[q] = gm[q] * rs[q] * (g[q] - mean_g - xhat * mean_gx);
    }
    store_floats<V>(dx, e, out);
  }
}

// Σ of the two outputs of `term` per column: one launch (bn_columns.cuh) handing the totals to
// `finish`, or (too many columns) the two-launch column reduction into out0/out1 and false.
template <class Term, class Finish>
bool column_sums2(DeviceContext& ctx, int v, int64_t rows, int64_t cols, const Term& term,
                  const Finish& finish, float* out0, float* out1) {
  if (kernels::bn_columns_fit(cols, v)) {
    const kernels::BnChunks ch = kernels::bn_chunks(rows);
    auto* partials = static_cast<float*>(
        scratch(ctx, static_cast<size_t>(2 * ch.chunks * cols) * sizeof(float)));
    const int threads = kernels::bn_threads(cols, v);
    const auto launch = [&](auto kernel) {
      kernel<<<static_cast<unsigned>(ch.chunks), threads, 0, ctx.stream>>>(
          rows, static_cast<int>(cols), ch.chunk_rows, static_cast<int>(ch.chunks), term, finish,
          partials, ctx.tickets + kTicketBatchnorm);
    };
    if (threads == kernels::kBnNarrowThreads) {
      launch(kernels::bn_columns_kernel<2, 4, kernels::kBnNarrowThreads, Term, Finish>);
    } else if (v == 4) {
      launch(kernels::bn_columns_kernel<2, 4, kernels::kBnThreads, Term, Finish>);
    } else {
      launch(kernels::bn_columns_kernel<2, 1, kernels::kBnThreads, Term, Finish>);
    }
    KASMINA_LAUNCH_CHECK("bn_columns_kernel");
    return true;
  }
  const kernels::ColumnChunks ch = kernels::column_chunks(rows);
  auto* partials =
      static_cast<float*>(scratch(ctx, static_cast<size_t>(2 * ch.chunks * cols) * sizeof(float)));
  kernels::column_reduce<2>(ctx.stream, rows, cols, term, partials, out0, out1);
  return false;
}

// Calls fn(TIn{}, TOut{}) for the element types of the input-side map `in` (x, dx) and the
// output-side map `out` (y, dy): float32 or bf16 each (conv_geometry.hpp checked the others).
template <class Fn>
void by_map_types(const char* op, const Tensor& in, const Tensor& out, Fn fn) {
  const auto is_bf16 = [&](const Tensor& t, const char* name) {
    check_on_device(op, name, t, in.device());
    if (t.dtype() == DType::bf16) return true;
    check_arg(op, name, t, in.device(), DType::f32);
    return false;
  };
  const bool in16 = is_bf16(in, "the input-side map");
  const bool out16 = is_bf16(out, "the output-side map");
  kernels::by_storage_pair(in16, out16, fn);
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const BatchNormParams& p, Tensor& running_mean, Tensor& running_var,
                             Tensor& y, Tensor& save_mean, Tensor& save_rstd) {
  const BatchNormDims d = check_batchnorm_forward_train(x, gamma, beta, running_mean, running_var,
                                                        y, save_mean, save_rstd, p.apply);
  by_map_types("batchnorm_forward_train", x, p.apply ? y : x, [&](auto in, auto out) {
    using T = decltype(in);
    using TOut = decltype(out);
    DeviceContext& ctx = context(x.device());
    const T* xs = x.data<T>();
    float *mean = save_mean.data<float>(), *rstd = save_rstd.data<float>();
    const auto rows = static_cast<float>(d.rows);
    const int v = kernels::channel_vector_width(
        d.cols, {x.raw(), p.apply ? y.raw() : nullptr, save_mean.raw(), save_rstd.raw(),
                 gamma.raw(), beta.raw()});
    const StatsFinish<T> finish{
        xs,   mean,  rstd,      running_mean.data<float>(), running_var.data<float>(),
        rows, p.eps, p.momentum};
    if (!column_sums2(ctx, v, d.rows, d.cols, ShiftedTerm<T>{xs, d.cols}, finish, mean, rstd)) {
      batchnorm_stats_kernel<T><<<grid_for(d.cols, kThreads), kThreads, 0, ctx.stream>>>(
          xs, mean, rstd, finish.running_mean, finish.running_var, d.cols, rows, p.eps, p.momentum);
      KASMINA_LAUNCH_CHECK("batchnorm_stats_kernel");
    }
    if (!p.apply) return;
    const int64_t n = d.rows * d.cols;
    by_width_and_index(v, n, [&](auto vw, auto index) {
      constexpr int V = decltype(vw)::value;
      using I = decltype(index);
      batchnorm_apply_kernel<V, I, T, TOut><<<grid_for(n / V, kThreads), kThreads, 0, ctx.stream>>>(
          xs, mean, rstd, nullptr, p.eps, gamma.data<float>(), beta.data<float>(), p.relu,
          static_cast<I>(n / V), static_cast<I>(d.cols), y.data<TOut>());
    });
    KASMINA_LAUNCH_CHECK("batchnorm_apply_kernel");
  });
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const BatchNormParams& p, const Tensor& running_mean,
                            const Tensor& running_var, Tensor& y) {
  const BatchNormDims d =
      check_batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, y);
  by_map_types("batchnorm_forward_eval", x, y, [&](auto in, auto out) {
    using T = decltype(in);
    using TOut = decltype(out);
    const int64_t n = d.rows * d.cols;
    const cudaStream_t s = stream(x.device());
    const int v = kernels::channel_vector_width(
        d.cols, {x.raw(), y.raw(), running_mean.raw(), running_var.raw(), gamma.raw(), beta.raw()});
    by_width_and_index(v, n, [&](auto vw, auto index) {
      constexpr int V = decltype(vw)::value;
      using I = decltype(index);
      batchnorm_apply_kernel<V, I, T, TOut><<<grid_for(n / V, kThreads), kThreads, 0, s>>>(
          x.data<T>(), running_mean.data<float>(), nullptr, running_var.data<float>(), p.eps,
          gamma.data<float>(), beta.data<float>(), p.relu, static_cast<I>(n / V),
          static_cast<I>(d.cols), y.data<TOut>());
    });
    KASMINA_LAUNCH_CHECK("batchnorm_apply_kernel");
  });
}

void batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& gamma,
                        const Tensor& save_mean, const Tensor& save_rstd, const BatchNormParams& p,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const BatchNormDims d =
      check_batchnorm_backward(dy, x, y, gamma, save_mean, save_rstd, p.relu, dx, dgamma, dbeta);
  by_map_types("batchnorm_backward", x, dy, [&](auto in, auto out) {
    using T = decltype(in);
    using TOut = decltype(out);
    DeviceContext& ctx = context(dy.device());
    const TOut* ys = p.relu ? y.data<TOut>() : nullptr;
    const BackwardTerm<T, TOut> term{
        dy.data<TOut>(), x.data<T>(), ys, save_mean.data<float>(), save_rstd.data<float>(), d.cols};
    const int v = kernels::channel_vector_width(
        d.cols, {dy.raw(), x.raw(), p.relu ? y.raw() : nullptr, save_mean.raw(), save_rstd.raw(),
                 gamma.raw(), dgamma.raw(), dbeta.raw(), dx.raw()});
    column_sums2(ctx, v, d.rows, d.cols, term,
                 GradFinish{dbeta.data<float>(), dgamma.data<float>()}, dbeta.data<float>(),
                 dgamma.data<float>());
    const int64_t n = d.rows * d.cols;
    by_width_and_index(v, n, [&](auto vw, auto index) {
      constexpr int V = decltype(vw)::value;
      using I = decltype(index);
      batchnorm_dx_kernel<V, I, T, TOut><<<grid_for(n / V, kThreads), kThreads, 0, ctx.stream>>>(
          term.dy, term.x, ys, term.mean, term.rstd, gamma.data<float>(), dgamma.data<float>(),
          dbeta.data<float>(), 1.0f / static_cast<float>(d.rows), static_cast<I>(n / V),
          static_cast<I>(d.cols), dx.data<T>());
    });
    KASMINA_LAUNCH_CHECK("batchnorm_dx_kernel");
  });
}

}  // namespace kasmina::ops::cuda
