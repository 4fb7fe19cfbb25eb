// Ordered sums whose loads are in flight together (namespace kasmina::kernels). A loop
// `for (l = first; l < n; l += step) acc += load(l)` with a run-time trip count compiles (sm_90)
// to load, add, exit test, next load: every load waits for the one before, so a last block adding
// 32 partials from L2 pays 32 round trips in a row (bench/RESULTS.md, twentieth session: ~20,000
// of bn_columns_kernel's 28,000 cycles under ncu). batched_sum issues B predicated loads, then
// adds them in the same ascending order, so the result is the plain loop's to the bit. Host and
// device (tests/ops/cpu/test_batched_sum.cpp checks the bits against the plain loop).
#pragma once
#include "core/hd.hpp"

namespace kasmina::kernels {

template <int B, class Load>
KASMINA_HD float batched_sum(float acc, int first, int n, int step, Load load) {
  for (int l = first; l < n; l += B * step) {
    float v[B];
    KASMINA_UNROLL
    for (int i = 0; i < B; ++i) v[i] = l + i * step < n ? load(l + i * step) : 0.0f;
    KASMINA_UNROLL
    for (int i = 0; i < B; ++i)
      if (l + i * step < n) acc += v[i];
  }
  return acc;
}

}  // namespace kasmina::kernels
