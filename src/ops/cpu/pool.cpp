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

// Calls fn(oh, ow, c, output index, offset of the image in the input) for every output element,
// in ascending output order.
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

// fn(ih, iw) over the window of output (oh, ow).
template <class Fn>
void for_window(const PoolGeometry& g, int64_t oh, int64_t ow, Fn&& fn) {
  for_pool_window(oh, ow, g.k, g.stride, g.padding, g.h, g.w, fn);
}

// Checks a pooling call whose reference tensor (`in`) must be on the CPU.
PoolGeometry checked(const char* op, const Tensor& in, const Tensor& out, const Tensor* argmax,
                     const Pool2dParams& p) {
  const PoolGeometry g = check_pool(op, in, out, argmax, p);
  check_cpu_tensor(op, "input", in);
  return g;
}

// Average pooling: forward y = Σ_window x / k² (in = x, out = y), or backward (in = dx,
// out = dy) scattering dy / k² onto each window.
void average(const char* op, const Tensor& in, const Tensor& out, const Pool2dParams& p,
             bool backward) {
  const PoolGeometry g = checked(op, in, out, nullptr, p);
  dispatch_float(op, in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* xs = in.data<T>();
    T* ys = out.data<T>();
    const T inv = T(1) / static_cast<T>(g.k * g.k);
    if (backward) {
      for (int64_t i = 0; i < in.numel(); ++i) xs[i] = T(0);
    }
    for_outputs(g, [&](int64_t oh, int64_t ow, int64_t c, int64_t o, int64_t img) {
      const auto at = [&](int64_t ih, int64_t iw) -> T& {
        return xs[img + (ih * g.w + iw) * g.c + c];
      };
      if (backward) {
        const T v = ys[o] * inv;
        for_window(g, oh, ow, [&](int64_t ih, int64_t iw) { at(ih, iw) += v; });
        return;
      }
      T s = T(0);
      for_window(g, oh, ow, [&](int64_t ih, int64_t iw) { s += at(ih, iw); });
      ys[o] = s * inv;
    });
  });
}

// The mean over the middle dimension: forward y[n,c] = Σ_s x[n,s,c] / S (sums in double; in = x,
// out = y), or backward dx[n,s,c] = dy[n,c] / S (in = dx, out = dy).
void sequence_mean(const char* op, const Tensor& in, const Tensor& out, bool backward) {
  const SeqDims d = check_global_avgpool(op, in, out);
  check_cpu_tensor(op, "x", in);
  dispatch_float(op, in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* xs = in.data<T>();
    T* ys = out.data<T>();
    for (int64_t n = 0; n < d.n; ++n) {
      for (int64_t c = 0; c < d.c; ++c) {
        T* col = xs + n * d.s * d.c + c;
        if (backward) {
          const T v = ys[n * d.c + c] * (T(1) / static_cast<T>(d.s));
          for (int64_t t = 0; t < d.s; ++t) col[t * d.c] = v;
          continue;
        }
        double s = 0.0;
        for (int64_t t = 0; t < d.s; ++t) s += static_cast<double>(col[t * d.c]);
        ys[n * d.c + c] = static_cast<T>(s / static_cast<double>(d.s));
      }
    }
  });
}

}  // namespace

void maxpool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax) {
  constexpr const char* op = "maxpool2d_forward";
  const PoolGeometry g = checked(op, x, y, &argmax, p);
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
  const PoolGeometry g = checked(op, dx, dy, &argmax, p);
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
  average("avgpool2d_forward", x, y, p, false);
}

void avgpool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  average("avgpool2d_backward", dx, dy, p, true);
}

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  sequence_mean("global_avgpool_forward", x, y, false);
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  sequence_mean("global_avgpool_backward", dx, dy, true);
}

}  // namespace kasmina::ops::cpu
