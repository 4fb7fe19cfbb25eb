// Argument checks and derived sizes of the conv op family (conv_ops.hpp), shared by the CPU
// twins and the CUDA launchers. Each check_* function validates every tensor of one call against
// the first (the reference: defined, same device, same dtype, expected shapes; a convolution's
// bias and bias gradient are float32 beside bf16 maps) and throws InternalError naming the op on
// a mismatch; the twins then check only the reference's device and dtype (CPU: float32/float64,
// and bf16 for the convolutions; CUDA: float32, and bf16 for the convolutions).
#pragma once
#include <cstdint>
#include <initializer_list>

#include "core/hd.hpp"
#include "core/tensor.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops {

// The sizes of one convolution: input [n,h,w,cin], weight [cout,k,k,cin/groups], output
// [n,ho,wo,cout].
struct ConvGeometry {
  int64_t n = 0, h = 0, w = 0, cin = 0;
  int64_t cout = 0, k = 0;
  int64_t ho = 0, wo = 0;
  int64_t stride = 1, padding = 0, groups = 1;
  int64_t cin_g() const { return cin / groups; }    // input channels per group
  int64_t cout_g() const { return cout / groups; }  // output channels per group
  Shape x_shape() const { return {n, h, w, cin}; }
  Shape w_shape() const { return {cout, k, k, cin / groups}; }
  Shape y_shape() const { return {n, ho, wo, cout}; }
};

// The sizes of one pooling: input [n,h,w,c], output [n,ho,wo,c].
struct PoolGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0;
  int64_t ho = 0, wo = 0;
  int64_t k = 1, stride = 1, padding = 0;
  Shape x_shape() const { return {n, h, w, c}; }
  Shape y_shape() const { return {n, ho, wo, c}; }
};

// [R, C] of a batchnorm input.
struct BatchNormDims {
  int64_t rows = 0, cols = 0;
};

// [N, S, C] of a global average pooling input.
struct SeqDims {
  int64_t n = 0, s = 0, c = 0;
};

// From the input shape [N,H,W,Cin], the weight shape [Cout,k,k,Cin/groups] and the parameters:
// ranks, a square kernel, divisibility by groups, a positive output size.
ConvGeometry conv_geometry(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p);

// The whole argument check of each op (bias, db: optional; y of batchnorm_backward: only with
// the fused ReLU).
ConvGeometry check_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                  const Conv2dParams& p, const Tensor& y);
ConvGeometry check_conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dParams& p,
                                         const Tensor& dx);
ConvGeometry check_conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dParams& p,
                                          const Tensor& dw, const Tensor* db);
BatchNormDims check_batchnorm_forward_train(const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, const Tensor& running_mean,
                                            const Tensor& running_var, const Tensor& y,
                                            const Tensor& save_mean, const Tensor& save_rstd,
                                            bool apply = true);
BatchNormDims check_batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           const Tensor& running_mean, const Tensor& running_var,
                                           const Tensor& y);
BatchNormDims check_batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& y,
                                       const Tensor& gamma, const Tensor& save_mean,
                                       const Tensor& save_rstd, bool relu, const Tensor& dx,
                                       const Tensor& dgamma, const Tensor& dbeta);
// batchnorm_residual_forward and relu_mask_add.
BatchNormDims check_batchnorm_residual_forward(const BatchNormTerm& body,
                                               const BatchNormTerm* skip_bn, const Tensor& skip,
                                               const Tensor& y, const Tensor* y16 = nullptr);
BatchNormDims check_relu_mask_add(const Tensor& dy, const Tensor& y, const Tensor& g,
                                  const Tensor& dx);
// A pooling call: `in` is input-shaped (x, or dx of a backward), `out` output-shaped (y or dy);
// argmax (max pooling, optional) i32 output-shaped. Window: kernel >= 1, stride >= 1,
// 0 <= padding <= kernel / 2, a positive output size.
PoolGeometry check_pool(const char* op, const Tensor& in, const Tensor& out, const Tensor* argmax,
                        const Pool2dParams& p);
// x [N,S,C] (S >= 1) and y [N,C] (either may be the reference: forward x, backward dx).
SeqDims check_global_avgpool(const char* op, const Tensor& x, const Tensor& y);

// The input positions a window covers along one axis: output index o covers
// [o*stride - padding, o*stride - padding + kernel). For input index i, the outputs whose window
// covers it are o in [first, last] (empty when first > last).
struct CoverRange {
  int64_t first = 0, last = -1;
};
KASMINA_HD CoverRange covering_outputs(int64_t i, int64_t kernel, int64_t stride, int64_t padding,
                                       int64_t out_size) {
  const int64_t hi = i + padding;  // o*stride <= hi  and  o*stride > hi - kernel
  CoverRange r;
  r.first = hi - kernel < 0 ? 0 : (hi - kernel) / stride + 1;
  r.last = hi / stride < out_size - 1 ? hi / stride : out_size - 1;
  return r;
}

// Calls fn(ih, iw) for the in-range input positions of the pooling window of output (oh, ow),
// in row-major window order (the order of the max tie rule and of the average's sum).
template <class Fn>
KASMINA_HD void for_pool_window(int64_t oh, int64_t ow, int64_t k, int64_t stride, int64_t padding,
                                int64_t h, int64_t w, Fn&& fn) {
  for (int64_t i = 0; i < k; ++i) {
    const int64_t ih = oh * stride - padding + i;
    if (ih < 0 || ih >= h) continue;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t iw = ow * stride - padding + j;
      if (iw >= 0 && iw < w) fn(ih, iw);
    }
  }
}

}  // namespace kasmina::ops
