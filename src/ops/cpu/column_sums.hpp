// Deterministic reductions over the rows of a row-major matrix. Every column is accumulated in
// double, rows in ascending order (for float32 inputs the double accumulator makes the result
// independent of summation order to well below float32 rounding), then rounded once to T.
#pragma once
#include <cstdint>
#include <vector>

namespace kasmina::ops::cpu {

// out[j] = Σ_i a[i*cols + j].
template <class T>
void column_sums(const T* a, int64_t rows, int64_t cols, T* out) {
  std::vector<double> acc(static_cast<size_t>(cols), 0.0);
  double* s = acc.data();
  for (int64_t i = 0; i < rows; ++i) {
    const T* row = a + i * cols;
    for (int64_t j = 0; j < cols; ++j) s[j] += static_cast<double>(row[j]);
  }
  for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<T>(s[j]);
}

}  // namespace kasmina::ops::cpu
