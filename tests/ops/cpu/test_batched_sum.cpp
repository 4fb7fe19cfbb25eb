// kernels/batched_sum.cuh (the last blocks' ordered sums with their loads in flight together):
// the same float, to the bit, as the plain loop it replaces, for every start, stride and length
// around the batch size, including signed zeros and values that cancel.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/batched_sum.cuh"

namespace kasmina::kernels {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(BatchedSum, EqualsThePlainLoopBitForBit) {
  std::mt19937 rng(20261205);
  std::uniform_real_distribution<float> wide(-1e4f, 1e4f), narrow(-1.0f, 1.0f);
  int checked = 0;
  for (int n = 0; n <= 70; ++n)
    for (int step = 1; step <= 9; ++step)
      for (int first = 0; first <= step; ++first) {
        std::vector<float> v(n);
        for (float& x : v) x = (rng() % 3 == 0 ? wide(rng) : narrow(rng)) * (rng() % 2 ? 1 : -1);
        if (n > 2) v[1] = -0.0f;  // a signed zero: the plain loop's 0.0f + -0.0f is +0.0f
        const float start = (n % 4 == 0) ? -0.0f : wide(rng);
        float plain = start;
        for (int l = first; l < n; l += step) plain += v[l];
        auto load = [&](int l) { return v[l]; };
        EXPECT_EQ(bits(batched_sum<8>(start, first, n, step, load)), bits(plain))
            << "n " << n << " step " << step << " first " << first;
        EXPECT_EQ(bits(batched_sum<3>(start, first, n, step, load)), bits(plain));
        ++checked;
      }
  EXPECT_GT(checked, 3000);
}

TEST(BatchedSum, LoadsOnlyInRange) {
  // A load beyond n would read past the partials; count what is asked for.
  for (int n = 0; n <= 20; ++n) {
    std::vector<int> asked;
    batched_sum<8>(0.0f, 1, n, 2, [&](int l) {
      asked.push_back(l);
      return 1.0f;
    });
    std::vector<int> want;
    for (int l = 1; l < n; l += 2) want.push_back(l);
    EXPECT_EQ(asked, want) << "n " << n;
  }
}

}  // namespace
}  // namespace kasmina::kernels
