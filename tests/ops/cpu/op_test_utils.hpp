// Helpers for the CPU op tests: random tensors from kasmina::Rng, weighted-sum losses, central
// finite differences and a gradient comparison by relative error.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace kasmina::ops::cpu_test {

// Uniform values in [lo, hi), as float32 or float64.
inline Tensor random_tensor(Rng& rng, const Shape& shape, DType dtype, double lo = -1.0,
                            double hi = 1.0) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (double& x : v) x = rng.uniform(lo, hi);
  if (dtype == DType::f64) return Tensor::from_vector<double>(v, shape);
  return Tensor::from_vector<float>(std::vector<float>(v.begin(), v.end()), shape);
}

// Uniform values in [lo, hi) whose magnitude is at least `margin` (away from an activation's
// kink at 0).
inline Tensor random_away_from_zero(Rng& rng, const Shape& shape, double lo, double hi,
                                    double margin) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (double& x : v) {
    do {
      x = rng.uniform(lo, hi);
    } while (std::abs(x) < margin);
  }
  return Tensor::from_vector<double>(v, shape);
}

inline std::vector<double> values(const Tensor& t) {
  if (t.dtype() == DType::f64) return t.to_vector<double>();
  const std::vector<float> f = t.to_vector<float>();
  return {f.begin(), f.end()};
}

// Σ_i y_i r_i in double: the scalar loss whose gradient with respect to y is r.
inline double weighted_sum(const Tensor& y, const Tensor& r) {
  const std::vector<double> a = values(y), b = values(r);
  EXPECT_EQ(a.size(), b.size());
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The central difference (loss(t + h e_i) - loss(t - h e_i)) / 2h of `loss` with respect to
// element i of the float64 tensor t (perturbed in place and restored).
inline double central_difference(Tensor& t, int64_t i, const std::function<double()>& loss,
                                 double h = 1e-5) {
  double* data = t.data<double>();
  const double saved = data[i];
  data[i] = saved + h;
  const double up = loss();
  data[i] = saved - h;
  const double down = loss();
  data[i] = saved;
  return (up - down) / (2.0 * h);
}

// central_difference for every element of t.
inline std::vector<double> numeric_gradient(Tensor& t, const std::function<double()>& loss,
                                            double h = 1e-5) {
  std::vector<double> grad(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    grad[static_cast<size_t>(i)] = central_difference(t, i, loss, h);
  return grad;
}

// Every element agrees to relative error `tol`: |a - n| / max(|a|, |n|, floor) with the floor
// 1e-3 keeping the measure finite where the true gradient is zero. The numeric gradient must not
// vanish altogether (a test that compares zeros with zeros proves nothing).
inline void expect_gradient_matches(const std::vector<double>& analytic,
                                    const std::vector<double>& numeric, const std::string& what,
                                    double tol = 1e-6) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  double largest = 0.0;
  for (size_t i = 0; i < numeric.size(); ++i) {
    largest = std::max(largest, std::abs(numeric[i]));
    const double denom = std::max({std::abs(analytic[i]), std::abs(numeric[i]), 1e-3});
    EXPECT_LT(std::abs(analytic[i] - numeric[i]) / denom, tol)
        << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric[i];
  }
  EXPECT_GT(largest, 1e-2) << what << ": the numeric gradient vanishes";
}

}  // namespace kasmina::ops::cpu_test
