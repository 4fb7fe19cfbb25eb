// Shape checks and derived sizes of the conv op family (conv_ops.hpp), shared by the CPU twins
// and the CUDA launchers: each check names the op and throws InternalError on a mismatch. Device
// and dtype checks stay with the twins (CPU: float32/float64; CUDA: float32).
#pragma once
#include <cstdint>

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

// From the input shape [N,H,W,Cin], the weight shape [Cout,k,k,Cin/groups] and the parameters;
// checks ranks, a square kernel, divisibility by groups, a positive output size.
ConvGeometry conv_geometry(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p);

// The sizes of one pooling: input [n,h,w,c], output [n,ho,wo,c].
struct PoolGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0;
  int64_t ho = 0, wo = 0;
  int64_t k = 1, stride = 1, padding = 0;
  Shape x_shape() const { return {n, h, w, c}; }
  Shape y_shape() const { return {n, ho, wo, c}; }
};

// From the input shape [N,H,W,C] and the window; checks kernel/stride >= 1,
// 0 <= padding <= kernel / 2, a positive output size.
PoolGeometry pool_geometry(const char* op, const Shape& x, const Pool2dParams& p);

// [R, C] of a batchnorm input (2-D); R >= 1 (R >= 2 when `training`), C >= 1.
struct BatchNormDims {
  int64_t rows = 0, cols = 0;
};
BatchNormDims batchnorm_dims(const char* op, const Shape& x, bool training);

// [N, S, C] of a global average pooling input (3-D, S >= 1).
struct SeqDims {
  int64_t n = 0, s = 0, c = 0;
};
SeqDims global_avgpool_dims(const char* op, const Shape& x);

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

}  // namespace kasmina::ops
