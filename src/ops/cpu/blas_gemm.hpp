// Row-major GEMM through OpenBLAS (cblas_sgemm / cblas_dgemm):
//   c[m,n] = op(a) · op(b), op(x) = x or xᵀ, overwriting c.
// Empty products (an inner dimension of 0) write zeros, which BLAS would leave undefined.
#pragma once
#include <cblas.h>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "core/error.hpp"

namespace kasmina::ops::cpu {

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;  // c is [m,n]; the product runs over k
  bool trans_a = false;         // a is stored [k,m] instead of [m,k]
  bool trans_b = false;         // b is stored [n,k] instead of [k,n]
};

template <class T>
void gemm(const char* op, const GemmShape& s, const T* a, const T* b, T* c) {
  if (s.m == 0 || s.n == 0) return;
  if (s.k == 0) {
    for (int64_t i = 0; i < s.m * s.n; ++i) c[i] = T(0);
    return;
  }
  constexpr int64_t limit = std::numeric_limits<blasint>::max();
  KASMINA_CHECK(s.m <= limit && s.n <= limit && s.k <= limit,
                std::string(op) + ": matrix dimension exceeds the BLAS integer range");
  const auto m = static_cast<blasint>(s.m), n = static_cast<blasint>(s.n),
             k = static_cast<blasint>(s.k);
  const CBLAS_TRANSPOSE ta = s.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = s.trans_b ? CblasTrans : CblasNoTrans;
  const blasint lda = s.trans_a ? m : k;
  const blasint ldb = s.trans_b ? k : n;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
  } else {
    static_assert(std::is_same_v<T, double>, "gemm: float or double");
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, n);
  }
}

}  // namespace kasmina::ops::cpu
