#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/philox.hpp"
#include "core/rng.hpp"

using namespace kasmina;

TEST(Rng, DeterministicAndSeedSensitive) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    (void)c;
  }
  EXPECT_NE(Rng(42).next_u64(), Rng(43).next_u64());
}

TEST(Rng, NormalMomentsAndPermutation) {
  Rng r(7);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal();
    s += x;
    s2 += x * x;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
  auto p = r.permutation(1000);
  auto q = p;
  std::sort(q.begin(), q.end());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(q[i], i);
  EXPECT_NE(p, q);  // probability of identity is 1/1000!
}

TEST(Rng, StateRoundTrip) {
  Rng r(9);
  r.normal();
  const Rng::State st = r.state();
  const double x = r.normal(), y = r.uniform();
  r.set_state(st);
  EXPECT_EQ(x, r.normal());
  EXPECT_EQ(y, r.uniform());
}

TEST(Philox, KnownAnswer) {
  // Random123 known-answer test for philox4x32-10, counter = key = 0.
  const Philox4 r = philox4x32(0, 0, 0, 0, 0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
  const float u = philox_uniform(0xffffffffu);
  EXPECT_LT(u, 1.0f);
  EXPECT_GE(philox_uniform(0), 0.0f);
}
