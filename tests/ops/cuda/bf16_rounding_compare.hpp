// The bound of the CUDA-vs-CPU entries whose kernels round a float32 result to bf16 once on each
// device (the morph forward's blends, its backward's dx): the two float32 results differ by
// float32 rounding (sums contracted differently), which moves a rounding boundary for a few
// elements. Each element is bit for bit the twin's, one bf16 unit in the last place from it, or
// within 1e-5 of it (a result that cancels to near zero, where float32's rounding of its
// order-one terms is the difference), and at most 1% of them differ.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/bf16.hpp"

namespace kasmina::ops::bf16_test {

// Checks `got` against `want` (bf16 bit patterns) as the file comment says. With `x` (the bits
// the kernel started from), returns how many elements of `want` differ from it (what the kernel
// changed); else 0.
inline int64_t expect_rounding_apart(const std::vector<uint16_t>& want,
                                     const std::vector<uint16_t>& got, const std::string& what,
                                     const std::vector<uint16_t>* x = nullptr) {
  EXPECT_EQ(want.size(), got.size()) << what;
  int64_t differ = 0, changed = 0;
  int reported = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    if (x != nullptr && i < x->size()) changed += want[i] != (*x)[i];
    if (want[i] == got[i]) continue;
    ++differ;
    const double apart =
        std::fabs(double{bf16_bits_to_float(want[i])} - bf16_bits_to_float(got[i]));
    if (std::abs(int{want[i]} - int{got[i]}) != 1 && apart > 1e-5 && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: cpu " << bf16_bits_to_float(want[i]) << " cuda "
                    << bf16_bits_to_float(got[i]) << " (more than one unit and 1e-5 apart)";
  }
  EXPECT_LE(differ * 100, static_cast<int64_t>(want.size())) << what;
  return changed;
}

}  // namespace kasmina::ops::bf16_test
