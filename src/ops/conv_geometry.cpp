// Argument checks of the conv op family (conv_geometry.hpp).
#include "ops/conv_geometry.hpp"

#include <string>

#include "core/error.hpp"

namespace kasmina::ops {

namespace {

void require(bool ok, const char* op, const std::string& what) {
  KASMINA_CHECK(ok, std::string(op) + ": " + what);
}

struct Named {
  const char* name;
  const Tensor* t;
};

// Each tensor defined, on ref's device, of ref's dtype (or `dt` when given) and shape `shape`.
void check_like(const char* op, const Tensor& ref, const Shape& shape,
                std::initializer_list<Named> ts, const DType* dt = nullptr) {
  for (const Named& n : ts) {
    const std::string what = std::string("tensor '") + n.name + "'";
    require(n.t->defined(), op, what + " is undefined");
    require(n.t->device() == ref.device(), op,
            what + " is on " + n.t->device().str() + ", expected " + ref.device().str());
    const DType want = dt ? *dt : ref.dtype();
    require(n.t->dtype() == want, op,
            what + " is " + dtype_name(n.t->dtype()) + ", expected " + dtype_name(want));
    require(n.t->shape() == shape, op,
            what + " has shape " + shape_str(n.t->shape()) + ", expected " + shape_str(shape));
  }
}

void require_defined(const char* op, const char* name, const Tensor& t) {
  require(t.defined(), op, std::string("tensor '") + name + "' is undefined");
}

// The per-channel tensors beside the maps (a convolution's bias and bias gradient; batchnorm's
// affine parameters, statistics and their gradients): float32 beside bf16 maps (fp32 masters and
// statistics), else the maps' dtype.
DType per_channel_dtype(const Tensor& ref) {
  return ref.dtype() == DType::bf16 ? DType::f32 : ref.dtype();
}

// The dtype a map beside `ref` must have: bf16 and float32 maps may meet (float32 beside bf16,
// bf16 beside float32: a batchnorm's input and output sides, a fused tail's normalisation inputs
// beside its float32 output); otherwise ref's dtype.
DType partner_dtype(const Tensor& ref, const Tensor& t) {
  const auto storage = [](DType d) { return d == DType::f32 || d == DType::bf16; };
  return storage(ref.dtype()) && storage(t.dtype()) ? t.dtype() : ref.dtype();
}

BatchNormDims batchnorm_dims(const char* op, const Tensor& x, bool training) {
  require_defined(op, "x", x);
  const Shape& s = x.shape();
  require(s.size() == 2, op,
          "x must be [R,C] (an NHWC map viewed as [N*H*W,C]), got " + shape_str(s));
  require(s[1] >= 1 && s[0] >= (training ? 2 : 1), op,
          "x " + shape_str(s) +
              (training ? ": training needs at least 2 rows and 1 channel"
                        : ": at least 1 row and 1 channel"));
  return {s[0], s[1]};
}

// What both forward passes take.
BatchNormDims check_batchnorm_forward(const char* op, bool training, const Tensor& x,
                                      const Tensor& gamma, const Tensor& beta,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      const Tensor& y, bool need_y = true) {
  const BatchNormDims d = batchnorm_dims(op, x, training);
  const DType per_channel = per_channel_dtype(x);
  check_like(op, x, {d.cols},
             {{"gamma", &gamma},
              {"beta", &beta},
              {"running_mean", &running_mean},
              {"running_var", &running_var}},
             &per_channel);
  if (need_y || y.defined()) {
    const DType y_dt = partner_dtype(x, y);
    check_like(op, x, x.shape(), {{"y", &y}}, &y_dt);
  }
  return d;
}

// A convolution call's tensors by role: input-shaped, weight-shaped, output-shaped (x, w, y in
// the forward; dx, w, dy and x, dw, dy in the backward passes), checked against `ref`.
struct ConvRoles {
  Named in, weight, out;
};
ConvGeometry check_conv(const char* op, const Tensor& ref, const ConvRoles& r,
                        const Conv2dParams& p, const DType* weight_dt = nullptr) {
  require_defined(op, r.in.name, *r.in.t);
  require_defined(op, r.weight.name, *r.weight.t);
  const ConvGeometry g = conv_geometry(op, r.in.t->shape(), r.weight.t->shape(), p);
  check_like(op, ref, g.x_shape(), {r.in});
  check_like(op, ref, g.w_shape(), {r.weight}, weight_dt);
  check_like(op, ref, g.y_shape(), {r.out});
  return g;
}

}  // namespace

ConvGeometry conv_geometry(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p) {
  require(x.size() == 4, op, "x must be [N,H,W,Cin], got " + shape_str(x));
  require(w.size() == 4, op, "w must be [Cout,kh,kw,Cin/groups], got " + shape_str(w));
  require(p.stride >= 1 && p.padding >= 0 && p.groups >= 1, op,
          "stride >= 1, padding >= 0 and groups >= 1 required (stride " + std::to_string(p.stride) +
              ", padding " + std::to_string(p.padding) + ", groups " + std::to_string(p.groups) +
              ")");
  ConvGeometry g{.n = x[0], .h = x[1], .w = x[2], .cin = x[3], .cout = w[0], .k = w[1]};
  g.stride = p.stride;
  g.padding = p.padding;
  g.groups = p.groups;
  require(w[1] == w[2] && g.k >= 1, op, "the kernel must be square, got w " + shape_str(w));
  require(g.cin % p.groups == 0 && g.cout % p.groups == 0 && g.cout >= 1, op,
          "Cin " + std::to_string(g.cin) + " and Cout " + std::to_string(g.cout) +
              " must be positive multiples of groups " + std::to_string(p.groups));
  require(w[3] == g.cin / p.groups, op,
          "w " + shape_str(w) + " does not match x " + shape_str(x) + " with groups " +
              std::to_string(p.groups));
  g.ho = conv_out_size(g.h, g.k, g.stride, g.padding);
  g.wo = conv_out_size(g.w, g.k, g.stride, g.padding);
  require(g.ho >= 1 && g.wo >= 1, op,
          "kernel " + std::to_string(g.k) + " does not fit x " + shape_str(x) + " with padding " +
              std::to_string(g.padding));
  return g;
}

ConvGeometry check_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                  const Conv2dParams& p, const Tensor& y) {
  constexpr const char* op = "conv2d_forward";
  const ConvGeometry g = check_conv(op, x, {{"x", &x}, {"w", &w}, {"y", &y}}, p);
  const DType bias_dt = per_channel_dtype(x);
  if (bias.defined()) check_like(op, x, {g.cout}, {{"bias", &bias}}, &bias_dt);
  return g;
}

ConvGeometry check_conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dParams& p,
                                         const Tensor& dx) {
  return check_conv("conv2d_backward_input", dy, {{"dx", &dx}, {"w", &w}, {"dy", &dy}}, p);
}

ConvGeometry check_conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dParams& p,
                                          const Tensor& dw, const Tensor* db) {
  constexpr const char* op = "conv2d_backward_weight";
  // bf16 maps may have a float32 dw (the rounded gradient widened: conv_ops.hpp).
  const DType dw_dt =
      dy.dtype() == DType::bf16 && dw.dtype() == DType::f32 ? DType::f32 : dy.dtype();
  const ConvGeometry g = check_conv(op, dy, {{"x", &x}, {"dw", &dw}, {"dy", &dy}}, p, &dw_dt);
  const DType db_dt = per_channel_dtype(dy);
  if (db) check_like(op, dy, {g.cout}, {{"db", db}}, &db_dt);
  return g;
}

BatchNormDims check_batchnorm_forward_train(const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, const Tensor& running_mean,
                                            const Tensor& running_var, const Tensor& y,
                                            const Tensor& save_mean, const Tensor& save_rstd,
                                            bool apply) {
  constexpr const char* op = "batchnorm_forward_train";
  const BatchNormDims d =
      check_batchnorm_forward(op, true, x, gamma, beta, running_mean, running_var, y, apply);
  const DType per_channel = per_channel_dtype(x);
  check_like(op, x, {d.cols}, {{"save_mean", &save_mean}, {"save_rstd", &save_rstd}}, &per_channel);
  return d;
}

BatchNormDims check_batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           const Tensor& running_mean, const Tensor& running_var,
                                           const Tensor& y) {
  return check_batchnorm_forward("batchnorm_forward_eval", false, x, gamma, beta, running_mean,
                                 running_var, y);
}

BatchNormDims check_batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& y,
                                       const Tensor& gamma, const Tensor& save_mean,
                                       const Tensor& save_rstd, bool relu, const Tensor& dx,
                                       const Tensor& dgamma, const Tensor& dbeta) {
  constexpr const char* op = "batchnorm_backward";
  const BatchNormDims d = batchnorm_dims(op, dy, true);
  // The input side (x, dx) and the output side (dy, y) each of one dtype; bf16 and float32 sides
  // may meet.
  const DType in_dt = partner_dtype(dy, x);
  check_like(op, dy, dy.shape(), {{"x", &x}, {"dx", &dx}}, &in_dt);
  if (relu) check_like(op, dy, dy.shape(), {{"y", &y}});
  const DType per_channel = per_channel_dtype(x.dtype() == DType::bf16 ? x : dy);
  check_like(op, dy, {d.cols},
             {{"gamma", &gamma},
              {"save_mean", &save_mean},
              {"save_rstd", &save_rstd},
              {"dgamma", &dgamma},
              {"dbeta", &dbeta}},
             &per_channel);
  return d;
}

namespace {

// One normalisation of a fused tail: x [R, C] like `ref`, its four per-channel tensors [C].
void check_term(const char* op, const char* what, const BatchNormTerm& t, const Tensor& ref) {
  require(t.x && t.gamma && t.beta && t.mean && t.rstd, op,
          std::string(what) + ": a batchnorm term needs x, gamma, beta, mean and rstd");
  const DType x_dt = partner_dtype(ref, *t.x);  // a bf16 input beside a float32 output
  check_like(op, ref, ref.shape(), {{what, t.x}}, &x_dt);
  check_like(op, ref, {ref.dim(1)},
             {{"gamma", t.gamma}, {"beta", t.beta}, {"mean", t.mean}, {"rstd", t.rstd}});
}

}  // namespace

BatchNormDims check_batchnorm_residual_forward(const BatchNormTerm& body,
                                               const BatchNormTerm* skip_bn, const Tensor& skip,
                                               const Tensor& y, const Tensor* y16) {
  constexpr const char* op = "batchnorm_residual_forward";
  const BatchNormDims d = batchnorm_dims(op, y, false);
  check_term(op, "x", body, y);
  if (skip_bn) {
    check_term(op, "skip x", *skip_bn, y);
  } else {
    check_like(op, y, y.shape(), {{"skip", &skip}});
  }
  if (y16) {
    require(y.dtype() == DType::f32, op, "a bf16 copy of y needs a float32 y");
    const DType bf16 = DType::bf16;
    check_like(op, y, y.shape(), {{"y16", y16}}, &bf16);
  }
  return d;
}

BatchNormDims check_relu_mask_add(const Tensor& dy, const Tensor& y, const Tensor& g,
                                  const Tensor& dx) {
  constexpr const char* op = "relu_mask_add";
  const BatchNormDims d = batchnorm_dims(op, dx, false);
  check_like(op, dx, dx.shape(), {{"dy", &dy}, {"y", &y}});
  // g may be a bf16 input gradient beside the float32 others (widened exactly in the op).
  const DType g_dt = dx.dtype() == DType::f32 ? partner_dtype(dx, g) : dx.dtype();
  check_like(op, dx, dx.shape(), {{"g", &g}}, &g_dt);
  return d;
}

PoolGeometry check_pool(const char* op, const Tensor& in, const Tensor& out, const Tensor* argmax,
                        const Pool2dParams& p) {
  require_defined(op, "input", in);
  const Shape& x = in.shape();
  require(x.size() == 4, op, "the input must be [N,H,W,C], got " + shape_str(x));
  require(p.kernel >= 1 && p.stride >= 1 && p.padding >= 0 && 2 * p.padding <= p.kernel, op,
          "kernel >= 1, stride >= 1 and 0 <= padding <= kernel/2 required (kernel " +
              std::to_string(p.kernel) + ", stride " + std::to_string(p.stride) + ", padding " +
              std::to_string(p.padding) + ")");
  PoolGeometry g{.n = x[0], .h = x[1], .w = x[2], .c = x[3]};
  g.k = p.kernel;
  g.stride = p.stride;
  g.padding = p.padding;
  g.ho = conv_out_size(g.h, g.k, g.stride, g.padding);
  g.wo = conv_out_size(g.w, g.k, g.stride, g.padding);
  require(g.ho >= 1 && g.wo >= 1, op,
          "window " + std::to_string(g.k) + " does not fit the input " + shape_str(x));
  check_like(op, in, g.y_shape(), {{"output", &out}});
  const DType i32 = DType::i32;
  if (argmax) check_like(op, in, g.y_shape(), {{"argmax", argmax}}, &i32);
  return g;
}

SeqDims check_global_avgpool(const char* op, const Tensor& x, const Tensor& y) {
  require_defined(op, "x", x);
  const Shape& s = x.shape();
  require(s.size() == 3 && s[1] >= 1, op, "x must be [N,S,C] with S >= 1, got " + shape_str(s));
  check_like(op, x, {s[0], s[2]}, {{"y", &y}});
  return {s[0], s[1], s[2]};
}

}  // namespace kasmina::ops
