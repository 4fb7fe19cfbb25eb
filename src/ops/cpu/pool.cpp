// CPU twins of the pooling ops (conv_ops.hpp): max and average pooling over square windows of
// NHWC maps, and the mean over the middle dimension of [N,S,C] (global average pooling). The
// backward passes scatter each output gradient onto its window (or its argmax), in ascending
// output order.
#include <cstdint>

#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

namespace {

// Calls fn(ih, iw) for the in-range input positions of output (oh, ow), in row-major order.
template <class Fn>
void for_window(const PoolGeometry& g, int64_t oh, int64_t ow, Fn&& fn) {
  for (int64_t i = 0; i < g.k; ++i) {
    const int64_t ih = oh * g.stride - g.padding + i;
    if (ih < 0 || ih >= g.h) continue;
    for (int64_t j = 0; j < g.k; ++j) {
      const int64_t iw = ow * g.stride - g.padding + j;
      if (iw >= 0 && iw < g.w) fn(ih, iw);
    }
  }
}

// Calls fn(n, oh, ow, c, out_index, image_offset) for every output element.
template <class Fn>
void for_outputs(const PoolGeometry& g, Fn&& fn) {
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        for (int64_t c = 0; c < g.c; ++c) {
          fn(oh, ow, c, ((n * g.ho + oh) * g.wo + ow) * g.c + c, n * g.h * g.w * g.c);
        }
      }
    }
  }
}

PoolGeometry checked_pool(const char* op, const Tensor& x, const char* xname, const Tensor& y,
                          const char* yname, const Pool2dParams& p) {
  check_cpu_tensor(op, xname, x);
  const PoolGeometry g = pool_geometry(op, x.shape(), p);
  check_tensor(op, yname, y, x.dtype(), g.y_shape());
  return g;
}

}  // namespace

void maxpool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax) {
  constexpr const char* op = "maxpool2d_forward";
  const PoolGeometry g = checked_pool(op, x, "x", y, "y", p);
  check_tensor(op, "argmax", argmax, DType::i32, g.y_shape());
  int32_t* am = argmax.data<int32_t>();
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* xs = x.data<T>();
    T* ys = y.data<T>();
    for_outputs(g, [&](int64_t oh, int64_t ow, int64_t c, int64_t o, int64_t img) {
      int64_t best = -1;
      T best_v = T(0);
      for_window(g, oh, ow, [&](int64_t ih, int64_t iw) {
        const T v = xs[img + (ih * g.w + iw) * g.c + c];
        if (best < 0 || v > best_v) {
          best = ih * g.w + iw;
          best_v = v;
        }
      });
      ys[o] = best_v;
      am[o] = static_cast<int32_t>(best);
    });
  });
}

void maxpool2d_backward(const Tensor& dy, const Tensor& argmax, const Pool2dParams& p, Tensor& dx) {
  constexpr const char* op = "maxpool2d_backward";
  const PoolGeometry g = checked_pool(op, dx, "dx", dy, "dy", p);
  check_tensor(op, "argmax", argmax, DType::i32, g.y_shape());
  const int32_t* am = argmax.data<int32_t>();
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* dys = dy.data<T>();
    T* dxs = dx.data<T>();
    for (int64_t i = 0; i < dx.numel(); ++i) dxs[i] = T(0);
    for_outputs(g, [&](int64_t, int64_t, int64_t c, int64_t o, int64_t img) {
      KASMINA_CHECK(am[o] >= 0 && am[o] < g.h * g.w, std::string(op) + ": argmax out of range");
      dxs[img + am[o] * g.c + c] += dys[o];
    });
  });
}

void avgpool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  constexpr const char* op = "avgpool2d_forward";
  const PoolGeometry g = checked_pool(op, x, "x", y, "y", p);
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* xs = x.data<T>();
    T* ys = y.data<T>();
    const T inv = T(1) / static_cast<T>(g.k * g.k);
    for_outputs(g, [&](int64_t oh, int64_t ow, int64_t c, int64_t o, int64_t img) {
      T s = T(0);
      for_window(g, oh, ow,
                 [&](int64_t ih, int64_t iw) { s += xs[img + (ih * g.w + iw) * g.c + c]; });
      ys[o] = s * inv;
    });
  });
}

void avgpool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  constexpr const char* op = "avgpool2d_backward";
  const PoolGeometry g = checked_pool(op, dx, "dx", dy, "dy", p);
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* dys = dy.data<T>();
    T* dxs = dx.data<T>();
    const T inv = T(1) / static_cast<T>(g.k * g.k);
    for (int64_t i = 0; i < dx.numel(); ++i) dxs[i] = T(0);
    for_outputs(g, [&](int64_t oh, int64_t ow, int64_t c, int64_t o, int64_t img) {
      const T v = dys[o] * inv;
      for_window(g, oh, ow,
                 [&](int64_t ih, int64_t iw) { dxs[img + (ih * g.w + iw) * g.c + c] += v; });
    });
  });
}

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  constexpr const char* op = "global_avgpool_forward";
  check_cpu_tensor(op, "x", x);
  const SeqDims d = global_avgpool_dims(op, x.shape());
  check_tensor(op, "y", y, x.dtype(), {d.n, d.c});
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* xs = x.data<T>();
    T* ys = y.data<T>();
    for (int64_t n = 0; n < d.n; ++n) {
      for (int64_t c = 0; c < d.c; ++c) {
        double s = 0.0;
        for (int64_t t = 0; t < d.s; ++t) s += static_cast<double>(xs[(n * d.s + t) * d.c + c]);
        ys[n * d.c + c] = static_cast<T>(s / static_cast<double>(d.s));
      }
    }
  });
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "global_avgpool_backward";
  check_cpu_tensor(op, "dx", dx);
  const SeqDims d = global_avgpool_dims(op, dx.shape());
  check_tensor(op, "dy", dy, dx.dtype(), {d.n, d.c});
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* dys = dy.data<T>();
    T* dxs = dx.data<T>();
    const T inv = T(1) / static_cast<T>(d.s);
    for (int64_t n = 0; n < d.n; ++n) {
      for (int64_t t = 0; t < d.s; ++t) {
        for (int64_t c = 0; c < d.c; ++c) dxs[(n * d.s + t) * d.c + c] = dys[n * d.c + c] * inv;
      }
    }
  });
}

}  // namespace kasmina::ops::cpu
