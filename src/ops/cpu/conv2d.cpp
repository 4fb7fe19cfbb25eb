// CPU twins of the convolution ops (conv_ops.hpp): im2col + OpenBLAS GEMMs, one image and one
// channel group at a time (a grouped convolution is one GEMM per group; depthwise is groups ==
// Cin). With groups == 1 the GEMMs read and write the NHWC tensors in place; otherwise a group's
// columns of dy / y are copied to and from a contiguous [Ho*Wo, Cout/groups] buffer.
// bf16 maps (conv_ops.hpp) run the float32 path on the widened inputs and round each stored
// result as cuDNN stores it (core/bf16.hpp): y, then y + bias once more; dx; dw (widened again
// for a float32 dw).
#include <vector>

#include "core/bf16.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/precision_ops.hpp"

#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cpu/blas_gemm.hpp"
#include "ops/cpu/column_sums.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/cpu/im2col.hpp"

namespace kasmina::ops::cpu {

namespace {

template <class T>
void forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t p = g.ho * g.wo, kk = g.k * g.k * g.cin_g(), cog = g.cout_g();
  std::vector<T> col(static_cast<size_t>(p * kk));
  std::vector<T> out(g.groups == 1 ? 0 : static_cast<size_t>(p * cog));
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.h * g.w * g.cin;
    T* yn = y + n * p * g.cout;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      im2col<T>(g, xn, grp, col.data());
      T* dst = g.groups == 1 ? yn : out.data();
      gemm<T>("conv2d_forward", {.m = p, .n = cog, .k = kk, .trans_b = true}, col.data(),
              w + grp * cog * kk, dst);
      if (g.groups == 1) continue;
      for (int64_t r = 0; r < p; ++r) {
        for (int64_t o = 0; o < cog; ++o) yn[r * g.cout + grp * cog + o] = out[r * cog + o];
      }
    }
    if (!bias) continue;
    for (int64_t r = 0; r < p; ++r) {
      for (int64_t o = 0; o < g.cout; ++o) yn[r * g.cout + o] += bias[o];
    }
  }
}

template <class T>
void backward_input(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  const int64_t p = g.ho * g.wo, kk = g.k * g.k * g.cin_g(), cog = g.cout_g();
  std::vector<T> dcol(static_cast<size_t>(p * kk));
  std::vector<T> dyg(g.groups == 1 ? 0 : static_cast<size_t>(p * cog));
  for (int64_t i = 0; i < g.n * g.h * g.w * g.cin; ++i) dx[i] = T(0);
  for (int64_t n = 0; n < g.n; ++n) {
    const T* dyn = dy + n * p * g.cout;
    T* dxn = dx + n * g.h * g.w * g.cin;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* src = dyn;
      if (g.groups > 1) {
        copy_columns<T>(dyn, p, g.cout, grp * cog, cog, dyg.data());
        src = dyg.data();
      }
      gemm<T>("conv2d_backward_input", {.m = p, .n = kk, .k = cog}, src, w + grp * cog * kk,
              dcol.data());
      col2im_add<T>(g, dcol.data(), grp, dxn);
    }
  }
}

template <class T>
void backward_weight(const ConvGeometry& g, const T* dy, const T* x, T* dw, T* db) {
  const int64_t p = g.ho * g.wo, kk = g.k * g.k * g.cin_g(), cog = g.cout_g();
  std::vector<T> col(static_cast<size_t>(p * kk));
  std::vector<T> dyg(g.groups == 1 ? 0 : static_cast<size_t>(p * cog));
  std::vector<T> part(static_cast<size_t>(cog * kk));
  for (int64_t i = 0; i < g.cout * kk; ++i) dw[i] = T(0);
  for (int64_t n = 0; n < g.n; ++n) {
    const T* dyn = dy + n * p * g.cout;
    const T* xn = x + n * g.h * g.w * g.cin;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* src = dyn;
      if (g.groups > 1) {
        copy_columns<T>(dyn, p, g.cout, grp * cog, cog, dyg.data());
        src = dyg.data();
      }
      im2col<T>(g, xn, grp, col.data());
      gemm<T>("conv2d_backward_weight", {.m = cog, .n = kk, .k = p, .trans_a = true}, src,
              col.data(), part.data());
      T* dst = dw + grp * cog * kk;
      for (int64_t i = 0; i < cog * kk; ++i) dst[i] += part[static_cast<size_t>(i)];
    }
  }
  if (db) column_sums<T>(dy, g.n * p, g.cout, db);
}

// y[r, o] = bf16(y[r, o] + bias[o]) over the bf16 output viewed as [rows, Cout].
void add_bias_bf16(const ConvGeometry& g, const float* bias, bf16* y) {
  const int64_t rows = g.n * g.ho * g.wo;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < g.cout; ++o) {
      bf16& v = y[r * g.cout + o];
      v = bf16::from_float(v.to_float() + bias[o]);
    }
  }
}

void forward_bf16(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                  Tensor& y) {
  constexpr const char* op = "conv2d_forward";
  const Tensor xf = widen_bf16(op, "x", x), wf = widen_bf16(op, "w", w);
  Tensor yf = Tensor::empty(y.shape());
  forward<float>(g, xf.data<float>(), wf.data<float>(), nullptr, yf.data<float>());
  cast_to_bf16(yf, y);
  if (bias.defined()) add_bias_bf16(g, bias.data<float>(), y.data<bf16>());
}

void backward_input_bf16(const ConvGeometry& g, const Tensor& dy, const Tensor& w, Tensor& dx) {
  constexpr const char* op = "conv2d_backward_input";
  const Tensor dyf = widen_bf16(op, "dy", dy), wf = widen_bf16(op, "w", w);
  Tensor dxf = Tensor::empty(dx.shape());
  backward_input<float>(g, dyf.data<float>(), wf.data<float>(), dxf.data<float>());
  cast_to_bf16(dxf, dx);
}

void backward_weight_bf16(const ConvGeometry& g, const Tensor& dy, const Tensor& x, Tensor& dw,
                          Tensor* db) {
  constexpr const char* op = "conv2d_backward_weight";
  const Tensor dyf = widen_bf16(op, "dy", dy), xf = widen_bf16(op, "x", x);
  Tensor dwf = Tensor::empty(dw.shape());
  backward_weight<float>(g, dyf.data<float>(), xf.data<float>(), dwf.data<float>(),
                         db ? db->data<float>() : nullptr);
  if (dw.dtype() == DType::bf16) {
    cast_to_bf16(dwf, dw);
    return;
  }
  Tensor rounded = Tensor::empty(dw.shape(), DType::bf16);  // a float32 dw: rounded, widened
  cast_to_bf16(dwf, rounded);
  cast_from_bf16(rounded, dw);
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    Tensor& y) {
  constexpr const char* op = "conv2d_forward";
  const ConvGeometry g = check_conv2d_forward(x, w, bias, p, y);
  check_cpu_tensor(op, "x", x);
  if (x.dtype() == DType::bf16) {
    forward_bf16(g, x, w, bias, y);
    return;
  }
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    forward<T>(g, x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr, y.data<T>());
  });
}

void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  constexpr const char* op = "conv2d_backward_input";
  const ConvGeometry g = check_conv2d_backward_input(dy, w, p, dx);
  check_cpu_tensor(op, "dy", dy);
  if (dy.dtype() == DType::bf16) {
    backward_input_bf16(g, dy, w, dx);
    return;
  }
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    backward_input<T>(g, dy.data<T>(), w.data<T>(), dx.data<T>());
  });
}

void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dParams& p, Tensor& dw,
                            Tensor* db) {
  constexpr const char* op = "conv2d_backward_weight";
  const ConvGeometry g = check_conv2d_backward_weight(dy, x, p, dw, db);
  check_cpu_tensor(op, "dy", dy);
  if (dy.dtype() == DType::bf16) {
    backward_weight_bf16(g, dy, x, dw, db);
    return;
  }
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    backward_weight<T>(g, dy.data<T>(), x.data<T>(), dw.data<T>(), db ? db->data<T>() : nullptr);
  });
}

}  // namespace kasmina::ops::cpu
