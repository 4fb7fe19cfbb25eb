// CPU twins of the fused residual tail (conv_ops.hpp): batchnorm_residual_forward and
// relu_mask_add, float32 and float64, rows in order. Each normalisation is batchnorm's apply,
// (x - mean) * rstd * gamma + beta in the tensors' dtype, then one rounded addition. A
// normalisation's bf16 input, or relu_mask_add's bf16 g (beside a float32 output), is widened
// first, exactly.
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

// The per-channel pointers of one normalisation.
template <class T>
struct Norm {
  const T *x, *gamma, *beta, *mean, *rstd;
  explicit Norm(const BatchNormTerm& t)
      : x(t.x->data<T>()),
        gamma(t.gamma->data<T>()),
        beta(t.beta->data<T>()),
        mean(t.mean->data<T>()),
        rstd(t.rstd->data<T>()) {}
  T at(int64_t i, int64_t c) const { return (x[i] - mean[c]) * rstd[c] * gamma[c] + beta[c]; }
};

}  // namespace

void batchnorm_residual_forward(const BatchNormTerm& body, const BatchNormTerm* skip_bn,
                                const Tensor& skip, bool relu, Tensor& y, Tensor* y16) {
  constexpr const char* op = "batchnorm_residual_forward";
  const BatchNormDims d = check_batchnorm_residual_forward(body, skip_bn, skip, y, y16);
  check_cpu_tensor(op, "y", y);
  if (y16) {  // y, then its bf16 copy (the rounding the GPU's store makes)
    cpu::batchnorm_residual_forward(body, skip_bn, skip, relu, y, nullptr);
    cast_to_bf16(y, *y16);
    return;
  }
  const bool body16 = body.x->dtype() == DType::bf16;
  const bool skip16 = skip_bn && skip_bn->x->dtype() == DType::bf16;
  if (body16 || skip16) {  // the float32 twin on the widened inputs
    const Tensor bx = body16 ? widen_bf16(op, "x", *body.x) : *body.x;
    const Tensor sx = skip16 ? widen_bf16(op, "skip x", *skip_bn->x) : Tensor();
    BatchNormTerm b = body, s;
    b.x = &bx;
    if (skip_bn) {
      s = *skip_bn;
      if (skip16) s.x = &sx;
    }
    cpu::batchnorm_residual_forward(b, skip_bn ? &s : nullptr, skip, relu, y, nullptr);
    return;
  }
  dispatch_float(op, y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const Norm<T> h(body), sn(skip_bn ? *skip_bn : body);  // sn: read only with skip_bn
    const T* s = skip_bn ? nullptr : skip.data<T>();
    T* out = y.data<T>();
    for (int64_t r = 0; r < d.rows; ++r) {
      for (int64_t c = 0; c < d.cols; ++c) {
        const int64_t i = r * d.cols + c;
        const T sv = skip_bn ? sn.at(i, c) : s[i];
        const T o = h.at(i, c) + sv;
        out[i] = relu && o < T(0) ? T(0) : o;
      }
    }
  });
}

void relu_mask_add(const Tensor& dy, const Tensor& y, const Tensor& g, Tensor& dx) {
  constexpr const char* op = "relu_mask_add";
  const BatchNormDims d = check_relu_mask_add(dy, y, g, dx);
  check_cpu_tensor(op, "dx", dx);
  if (g.dtype() == DType::bf16) {  // the float32 twin on the widened gradient
    const Tensor g32 = widen_bf16(op, "g", g);
    cpu::relu_mask_add(dy, y, g32, dx);
    return;
  }
  dispatch_float(op, dx.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *dys = dy.data<T>(), *ys = y.data<T>(), *gs = g.data<T>();
    T* out = dx.data<T>();
    const int64_t n = d.rows * d.cols;
    for (int64_t i = 0; i < n; ++i) out[i] = (ys[i] > T(0) ? dys[i] : T(0)) + gs[i];
  });
}

}  // namespace kasmina::ops::cpu
