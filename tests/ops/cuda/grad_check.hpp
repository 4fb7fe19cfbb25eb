// Finite-difference helpers of the op table's gradient mode (float64, CPU): random inputs,
// central differences and an element-wise comparison that never passes NaN.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "tests/ops/cpu/op_test_utils.hpp"

namespace kasmina::op_table {

using ops::cpu_test::numeric_gradient;
using ops::cpu_test::values;
using ops::cpu_test::weighted_sum;

// float64 uniform values in [lo, hi).
inline Tensor random_f64(Rng& rng, const Shape& shape, double lo = -1.0, double hi = 1.0) {
  return ops::cpu_test::random_tensor(rng, shape, DType::f64, lo, hi);
}

// Compares an analytic gradient with central differences: every element within relative error
// `tol` (|a - n| / max(|a|, |n|, 1e-3)); NaN fails. Returns the largest |numeric| seen so a case
// can check that its gradients do not all vanish.
inline double expect_gradient(const std::vector<double>& analytic,
                              const std::vector<double>& numeric, const std::string& what,
                              double tol = 1e-6) {
  EXPECT_EQ(analytic.size(), numeric.size()) << what;
  double largest = 0.0;
  int reported = 0;
  for (size_t i = 0; i < std::min(analytic.size(), numeric.size()); ++i) {
    largest = std::max(largest, std::abs(numeric[i]));
    const double denom = std::max({std::abs(analytic[i]), std::abs(numeric[i]), 1e-3});
    const double err = std::abs(analytic[i] - numeric[i]) / denom;
    if (!(err < tol) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << ", numeric "
                    << numeric[i] << " (relative error " << err << ", tol " << tol << ")";
    }
  }
  return largest;
}

}  // namespace kasmina::op_table
