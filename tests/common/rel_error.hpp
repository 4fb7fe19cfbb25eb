// The relative error of a whole vector: ||a - b|| / ||b|| (2-norms, in double), the measure the
// whole-model tests use where single elements may legitimately differ more (AdamW's normalised
// steps of near-zero gradients).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace kasmina::testing {

inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

}  // namespace kasmina::testing
