// Cache of cuBLASLt algorithm choices, keyed by everything the heuristic depends on (shape,
// transposes, leading dimensions, epilogue, math mode, determinism, pointer alignments, input
// type, output type), so that cublasLtMatmulAlgoGetHeuristic runs once per configuration.
#pragma once
#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <tuple>

namespace kasmina::ops::cuda {

struct GemmKey {
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldd = 0, aux_ld = 0;
  int32_t trans_a = 0, trans_b = 0, epilogue = 0, compute = 0, deterministic = 0;
  int32_t align_a = 0, align_b = 0, align_d = 0, align_bias = 0, align_aux = 0;
  int32_t ab_type = 0;  // cudaDataType_t of A and B
  int32_t d_type = 0;   // cudaDataType_t of C and D

  auto tie() const {
    return std::tie(m, n, k, lda, ldb, ldd, aux_ld, trans_a, trans_b, epilogue, compute,
                    deterministic, align_a, align_b, align_d, align_bias, align_aux, ab_type,
                    d_type);
  }
  friend bool operator<(const GemmKey& x, const GemmKey& y) { return x.tie() < y.tie(); }
};

struct GemmChoice {
  bool available = false;  // false: cuBLASLt has no algorithm for this configuration
  cublasLtMatmulAlgo_t algo{};
  size_t workspace_bytes = 0;
};

using GemmAlgoCache = std::map<GemmKey, GemmChoice>;

}  // namespace kasmina::ops::cuda
