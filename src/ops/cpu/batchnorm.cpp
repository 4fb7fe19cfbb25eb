// CPU twins of batch normalisation over the rows of [R, C] (conv_ops.hpp). Per-channel sums are
// accumulated in double, rows in ascending order, with two passes (the mean, then the mean of
// squared deviations: the biased variance) whatever the input dtype; the saved statistics and
// the outputs are rounded once to the input's dtype. bf16 maps (any of x, y, dy, dx: the input
// side x, dx and the output side y, dy each float32 or bf16; conv_ops.hpp) run the float32 twin
// on the widened maps with float32 statistics and parameters, and round a bf16 y or dx once, as
// the GPU stores them.
#include <cmath>
#include <vector>

#include "ops/cpu/bf16_inputs.hpp"
#include "ops/precision_ops.hpp"

#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

namespace {

template <class T>
T normalise(T v, T mean, T rstd, T gamma, T beta, bool relu) {
  const T out = (v - mean) * rstd * gamma + beta;
  return relu && out < T(0) ? T(0) : out;
}

template <class T>
void apply(const BatchNormDims& d, const T* x, const T* mean, const T* rstd, const T* gamma,
           const T* beta, bool relu, T* y) {
  for (int64_t r = 0; r < d.rows; ++r) {
    for (int64_t c = 0; c < d.cols; ++c) {
      y[r * d.cols + c] = normalise(x[r * d.cols + c], mean[c], rstd[c], gamma[c], beta[c], relu);
    }
  }
}

bool is_bf16(const Tensor& t) {
  return t.defined() && t.dtype() == DType::bf16;
}

// A bf16 map widened to float32 (other maps as they are).
Tensor widened(const char* op, const char* name, const Tensor& t) {
  return is_bf16(t) ? widen_bf16(op, name, t) : t;
}

// Where the float32 twin writes a map: a float32 buffer for a bf16 output, else the output.
Tensor float_out(const Tensor& t) {
  return is_bf16(t) ? Tensor::empty(t.shape()) : t;
}

// The float32 result into a bf16 output (rounded once); nothing for a float32 one.
void store(const Tensor& result, Tensor& out) {
  if (is_bf16(out)) cast_to_bf16(result, out);
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const BatchNormParams& p, Tensor& running_mean, Tensor& running_var,
                             Tensor& y, Tensor& save_mean, Tensor& save_rstd) {
  constexpr const char* op = "batchnorm_forward_train";
  const BatchNormDims d = check_batchnorm_forward_train(x, gamma, beta, running_mean, running_var,
                                                        y, save_mean, save_rstd, p.apply);
  check_cpu_tensor(op, "x", x);
  if (is_bf16(x) || (p.apply && is_bf16(y))) {
    Tensor yf = p.apply ? float_out(y) : Tensor();
    cpu::batchnorm_forward_train(widened(op, "x", x), gamma, beta, p, running_mean, running_var, yf,
                                 save_mean, save_rstd);
    if (p.apply) store(yf, y);
    return;
  }
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* xs = x.data<T>();
    const auto cols = static_cast<size_t>(d.cols);
    std::vector<double> sum(cols, 0.0), sq(cols, 0.0);
    for (int64_t r = 0; r < d.rows; ++r) {
      for (size_t c = 0; c < cols; ++c) sum[c] += static_cast<double>(xs[r * d.cols + c]);
    }
    for (size_t c = 0; c < cols; ++c) sum[c] /= static_cast<double>(d.rows);
    for (int64_t r = 0; r < d.rows; ++r) {
      for (size_t c = 0; c < cols; ++c) {
        const double dev = static_cast<double>(xs[r * d.cols + c]) - sum[c];
        sq[c] += dev * dev;
      }
    }
    T *mean = save_mean.data<T>(), *rstd = save_rstd.data<T>();
    T *rm = running_mean.data<T>(), *rv = running_var.data<T>();
    const double m = p.momentum, rows = static_cast<double>(d.rows);
    for (size_t c = 0; c < cols; ++c) {
      const double var = sq[c] / rows;
      mean[c] = static_cast<T>(sum[c]);
      rstd[c] = static_cast<T>(1.0 / std::sqrt(var + static_cast<double>(p.eps)));
      rm[c] = static_cast<T>((1.0 - m) * static_cast<double>(rm[c]) + m * sum[c]);
      rv[c] = static_cast<T>((1.0 - m) * static_cast<double>(rv[c]) + m * var * rows / (rows - 1));
    }
    if (p.apply) apply<T>(d, xs, mean, rstd, gamma.data<T>(), beta.data<T>(), p.relu, y.data<T>());
  });
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const BatchNormParams& p, const Tensor& running_mean,
                            const Tensor& running_var, Tensor& y) {
  constexpr const char* op = "batchnorm_forward_eval";
  const BatchNormDims d =
      check_batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, y);
  check_cpu_tensor(op, "x", x);
  if (is_bf16(x) || is_bf16(y)) {
    Tensor yf = float_out(y);
    cpu::batchnorm_forward_eval(widened(op, "x", x), gamma, beta, p, running_mean, running_var, yf);
    store(yf, y);
    return;
  }
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* rv = running_var.data<T>();
    std::vector<T> rstd(static_cast<size_t>(d.cols));
    for (int64_t c = 0; c < d.cols; ++c) {
      rstd[static_cast<size_t>(c)] =
          static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv[c]) + static_cast<double>(p.eps)));
    }
    apply<T>(d, x.data<T>(), running_mean.data<T>(), rstd.data(), gamma.data<T>(), beta.data<T>(),
             p.relu, y.data<T>());
  });
}

void batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& gamma,
                        const Tensor& save_mean, const Tensor& save_rstd, const BatchNormParams& p,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  constexpr const char* op = "batchnorm_backward";
  const BatchNormDims d =
      check_batchnorm_backward(dy, x, y, gamma, save_mean, save_rstd, p.relu, dx, dgamma, dbeta);
  check_cpu_tensor(op, "dy", dy);
  if (is_bf16(dy) || is_bf16(x)) {
    Tensor dxf = float_out(dx);
    cpu::batchnorm_backward(widened(op, "dy", dy), widened(op, "x", x),
                            p.relu ? widened(op, "y", y) : Tensor(), gamma, save_mean, save_rstd, p,
                            dxf, dgamma, dbeta);
    store(dxf, dx);
    return;
  }
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *dys = dy.data<T>(), *xs = x.data<T>(), *ys = p.relu ? y.data<T>() : nullptr;
    const T *mean = save_mean.data<T>(), *rstd = save_rstd.data<T>(), *gm = gamma.data<T>();
    const auto cols = static_cast<size_t>(d.cols);
    const auto grad = [&](int64_t i) { return ys && !(ys[i] > T(0)) ? T(0) : dys[i]; };
    std::vector<double> sum_g(cols, 0.0), sum_gx(cols, 0.0);
    for (int64_t r = 0; r < d.rows; ++r) {
      for (size_t c = 0; c < cols; ++c) {
        const int64_t i = r * d.cols + static_cast<int64_t>(c);
        const double g = static_cast<double>(grad(i));
        sum_g[c] += g;
        sum_gx[c] += g * static_cast<double>((xs[i] - mean[c]) * rstd[c]);
      }
    }
    T *dg = dgamma.data<T>(), *db = dbeta.data<T>(), *dxs = dx.data<T>();
    const double inv_rows = 1.0 / static_cast<double>(d.rows);
    std::vector<T> mean_g(cols), mean_gx(cols);
    for (size_t c = 0; c < cols; ++c) {
      db[c] = static_cast<T>(sum_g[c]);
      dg[c] = static_cast<T>(sum_gx[c]);
      mean_g[c] = static_cast<T>(sum_g[c] * inv_rows);
      mean_gx[c] = static_cast<T>(sum_gx[c] * inv_rows);
    }
    for (int64_t r = 0; r < d.rows; ++r) {
      for (size_t c = 0; c < cols; ++c) {
        const int64_t i = r * d.cols + static_cast<int64_t>(c);
        const T xhat = (xs[i] - mean[c]) * rstd[c];
        dxs[i] = gm[c] * rstd[c] * (grad(i) - mean_g[c] - xhat * mean_gx[c]);
      }
    }
  });
}

}  // namespace kasmina::ops::cpu
