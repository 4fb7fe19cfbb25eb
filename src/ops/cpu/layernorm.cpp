// CPU twin of LayerNorm over the last dimension. Row statistics are computed in double with two
// passes (mean, then the mean of squared deviations: the biased variance), whatever the input
// dtype; mean and rstd are saved in the input's dtype. The backward pass uses the standard
// formulas with x̂ = (x - mean) rstd and g = dy ⊙ gamma:
//   dx = rstd (g - mean(g) - x̂ mean(g ⊙ x̂)),  dgamma = Σ_rows dy ⊙ x̂,  dbeta = Σ_rows dy,
// with the row means of g and g ⊙ x̂ and the column sums over rows accumulated in double in
// ascending order (deterministic).
#include <cmath>
#include <vector>

#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                       Tensor& y, Tensor& mean, Tensor& rstd) {
  constexpr const char* op = "layernorm_forward";
  int64_t m = 0, n = 0;  // std::tie: clang 14 lets no lambda capture a structured binding
  std::tie(m, n) = matrix_dims(op, "x", x);
  KASMINA_CHECK(n > 0, std::string(op) + ": rows of width 0 have no statistics");
  KASMINA_CHECK(eps >= 0.0f, std::string(op) + ": eps must be non-negative");
  const DType dt = x.dtype();
  check_tensor(op, "gamma", gamma, dt, {n});
  check_tensor(op, "beta", beta, dt, {n});
  check_tensor(op, "y", y, dt, {m, n});
  check_tensor(op, "mean", mean, dt, {m});
  check_tensor(op, "rstd", rstd, dt, {m});
  dispatch_float(op, dt, [&](auto zero) {
    using T = decltype(zero);
    const T* xs = x.data<T>();
    const T* g = gamma.data<T>();
    const T* bt = beta.data<T>();
    T* ys = y.data<T>();
    T* means = mean.data<T>();
    T* rstds = rstd.data<T>();
    for (int64_t i = 0; i < m; ++i) {
      const T* row = xs + i * n;
      double sum = 0.0;
      for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(row[j]);
      const double mu = sum / static_cast<double>(n);
      double sq = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(row[j]) - mu;
        sq += d * d;
      }
      const double var = sq / static_cast<double>(n);
      const double rs = 1.0 / std::sqrt(var + static_cast<double>(eps));
      means[i] = static_cast<T>(mu);
      rstds[i] = static_cast<T>(rs);
      const T mu_t = static_cast<T>(mu), rs_t = static_cast<T>(rs);
      T* out = ys + i * n;
      for (int64_t j = 0; j < n; ++j) out[j] = (row[j] - mu_t) * rs_t * g[j] + bt[j];
    }
  });
}

void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                        const Tensor& rstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  constexpr const char* op = "layernorm_backward";
  int64_t m = 0, n = 0;
  std::tie(m, n) = matrix_dims(op, "dy", dy);
  const DType dt = dy.dtype();
  check_tensor(op, "x", x, dt, {m, n});
  check_tensor(op, "gamma", gamma, dt, {n});
  check_tensor(op, "mean", mean, dt, {m});
  check_tensor(op, "rstd", rstd, dt, {m});
  check_tensor(op, "dx", dx, dt, {m, n});
  check_tensor(op, "dgamma", dgamma, dt, {n});
  check_tensor(op, "dbeta", dbeta, dt, {n});
  dispatch_float(op, dt, [&](auto zero) {
    using T = decltype(zero);
    const T* g = gamma.data<T>();
    const T *dys = dy.data<T>(), *xs = x.data<T>(), *means = mean.data<T>(),
            *rstds = rstd.data<T>();
    T* dxs = dx.data<T>();
    std::vector<double> dgamma_acc(static_cast<size_t>(n), 0.0);
    std::vector<double> dbeta_acc(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < m; ++i) {
      const T* dyr = dys + i * n;
      const T* xr = xs + i * n;
      T* dxr = dxs + i * n;
      const T mu = means[i], rs = rstds[i];
      double sum_g = 0.0, sum_gx = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const double xhat = static_cast<double>((xr[j] - mu) * rs);
        const double gj = static_cast<double>(dyr[j]) * static_cast<double>(g[j]);
        sum_g += gj;
        sum_gx += gj * xhat;
        dgamma_acc[static_cast<size_t>(j)] += static_cast<double>(dyr[j]) * xhat;
        dbeta_acc[static_cast<size_t>(j)] += static_cast<double>(dyr[j]);
      }
      const T mean_g = static_cast<T>(sum_g / static_cast<double>(n));
      const T mean_gx = static_cast<T>(sum_gx / static_cast<double>(n));
      for (int64_t j = 0; j < n; ++j) {
        const T xhat = (xr[j] - mu) * rs;
        dxr[j] = rs * (dyr[j] * g[j] - mean_g - xhat * mean_gx);
      }
    }
    T* dg = dgamma.data<T>();
    T* db = dbeta.data<T>();
    for (int64_t j = 0; j < n; ++j) {
      dg[j] = static_cast<T>(dgamma_acc[static_cast<size_t>(j)]);
      db[j] = static_cast<T>(dbeta_acc[static_cast<size_t>(j)]);
    }
  });
}

}  // namespace kasmina::ops::cpu
