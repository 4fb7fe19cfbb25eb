// bf16 storage (core/bf16.hpp) against hand-rounded bit patterns: ties to even, subnormals,
// overflow to Inf, NaN/Inf propagation; and against an independent nearest-value search.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/bf16.hpp"
#include "core/tensor.hpp"

using namespace kasmina;

namespace {

float from_bits(uint32_t u) {
  float f = 0.0f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

uint16_t round_bits(uint32_t float_bits) {
  return float_to_bf16_bits(from_bits(float_bits));
}

}  // namespace

TEST(Bf16, ExactValuesKeepTheirBits) {
  EXPECT_EQ(float_to_bf16_bits(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16_bits(-2.0f), 0xC000);
  EXPECT_EQ(float_to_bf16_bits(0.0f), 0x0000);
  EXPECT_EQ(float_to_bf16_bits(-0.0f), 0x8000);
  EXPECT_EQ(float_to_bf16_bits(0.5f + 0.25f), 0x3F40);
  EXPECT_EQ(bf16_bits_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_bits_to_float(0xC0A0), -5.0f);
}

TEST(Bf16, RoundsToNearestWithTiesToEven) {
  // 1 + 2^-8 lies half-way between 1 (0x3F80, even) and 1 + 2^-7 (0x3F81): down to even.
  EXPECT_EQ(round_bits(0x3F808000), 0x3F80);
  // 1 + 3·2^-8 lies half-way between 0x3F81 (odd) and 0x3F82 (even): up to even.
  EXPECT_EQ(round_bits(0x3F818000), 0x3F82);
  // Just above and just below the half-way point.
  EXPECT_EQ(round_bits(0x3F808001), 0x3F81);
  EXPECT_EQ(round_bits(0x3F807FFF), 0x3F80);
  // Negative values round their magnitude the same way.
  EXPECT_EQ(round_bits(0xBF808000), 0xBF80);
  EXPECT_EQ(round_bits(0xBF818000), 0xBF82);
  // pi = 0x40490FDB -> 0x4049 = 3.140625; 1/3 = 0x3EAAAAAB -> 0x3EAB = 0.333984375 (rounds up).
  EXPECT_EQ(float_to_bf16_bits(3.14159265f), 0x4049);
  EXPECT_EQ(bf16_bits_to_float(0x4049), 3.140625f);
  EXPECT_EQ(float_to_bf16_bits(1.0f / 3.0f), 0x3EAB);
  EXPECT_EQ(round_to_bf16(1.0f / 3.0f), 0.333984375f);
  // A carry out of the fraction moves to the next binade: 2 - 2^-9 -> 2.
  EXPECT_EQ(round_bits(0x3FFFC000), 0x4000);
}

TEST(Bf16, SubnormalsRoundExactlyWithoutFlushing) {
  // Half of the smallest bf16 subnormal (2^-134) ties to 0 (even); just above it rounds up.
  EXPECT_EQ(round_bits(0x00008000), 0x0000);
  EXPECT_EQ(round_bits(0x00008001), 0x0001);
  EXPECT_EQ(bf16_bits_to_float(0x0001), std::ldexp(1.0f, -133));
  // 1.5 and 2.5 units of the smallest subnormal: ties to the even neighbours 2 and 2.
  EXPECT_EQ(round_bits(0x00018000), 0x0002);
  EXPECT_EQ(round_bits(0x00028000), 0x0002);
  // The largest float32 subnormal rounds up to the smallest normal bf16 (2^-126).
  EXPECT_EQ(round_bits(0x007FFFFF), 0x0080);
  EXPECT_EQ(bf16_bits_to_float(0x0080), std::numeric_limits<float>::min());
  EXPECT_EQ(round_bits(0x80018000), 0x8002);  // negative subnormal tie
}

TEST(Bf16, OverflowRoundsToInfinity) {
  // The largest finite bf16 is 0x7F7F = (2 - 2^-7) · 2^127.
  EXPECT_EQ(bf16_bits_to_float(0x7F7F), std::ldexp(255.0f, 120));
  EXPECT_EQ(round_bits(0x7F7F7FFF), 0x7F7F);  // below the half-way point
  EXPECT_EQ(round_bits(0x7F7F8000), 0x7F80);  // tie, odd below: up to Inf
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(float_to_bf16_bits(-std::numeric_limits<float>::max()), 0xFF80);
  EXPECT_TRUE(std::isinf(round_to_bf16(3.4e38f)));
}

TEST(Bf16, InfinitiesAndNaNsPropagate) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(float_to_bf16_bits(inf), 0x7F80);
  EXPECT_EQ(float_to_bf16_bits(-inf), 0xFF80);
  EXPECT_EQ(bf16_bits_to_float(0xFF80), -inf);
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::quiet_NaN()), 0x7FC0);
  // A NaN whose payload sits only in the dropped bits would round or truncate to Inf: it stays
  // a (quiet) NaN, and keeps its sign and its kept payload bits.
  EXPECT_EQ(round_bits(0x7F800001), 0x7FC0);
  EXPECT_EQ(round_bits(0x7FBFFFFF), 0x7FFF);
  EXPECT_EQ(round_bits(0xFFA00000), 0xFFE0);
  EXPECT_TRUE(std::isnan(round_to_bf16(from_bits(0x7F800001))));
  EXPECT_TRUE(std::signbit(round_to_bf16(from_bits(0xFF800001))));
}

TEST(Bf16, EveryBf16ValueRoundTrips) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto bits = static_cast<uint16_t>(b);
    const float f = bf16_bits_to_float(bits);
    const bool nan = (b & 0x7FFF) > 0x7F80;
    // A NaN comes back quiet; every other value comes back with its own bits.
    EXPECT_EQ(float_to_bf16_bits(f), nan ? static_cast<uint16_t>(bits | 0x0040) : bits) << b;
  }
}

// Two bf16 in a 32-bit word as the vectorised kernels see them: two elements of a bf16 array,
// the first in the low half (little-endian), widened and packed back to the same bytes.
TEST(Bf16, PairsInAWordAreTheArrayElementsInMemoryOrder) {
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const uint16_t pair[2] = {static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng())};
    uint32_t w = 0;
    std::memcpy(&w, pair, sizeof(w));
    EXPECT_EQ(bit_copy<uint32_t>(bf16x2_low(w)), bit_copy<uint32_t>(bf16_bits_to_float(pair[0])));
    EXPECT_EQ(bit_copy<uint32_t>(bf16x2_high(w)), bit_copy<uint32_t>(bf16_bits_to_float(pair[1])));
    EXPECT_EQ(bf16x2_pack(pair[0], pair[1]), w);
  }
  EXPECT_EQ(bf16x2_pack(0x3F80, 0xC000), 0xC0003F80u);  // 1.0 then -2.0
  EXPECT_EQ(bf16x2_low(0xC0003F80u), 1.0f);
  EXPECT_EQ(bf16x2_high(0xC0003F80u), -2.0f);
}

// The rounding agrees with an independent search: the nearer of the two bf16 neighbours
// (truncation and the next value up in magnitude) in double arithmetic, the even one on a tie.
TEST(Bf16, MatchesTheNearestNeighbourOnRandomBitPatterns) {
  std::mt19937 rng(20261203);
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t u = rng();
    const float f = from_bits(u);
    if (!std::isfinite(f)) continue;
    const auto down = static_cast<uint16_t>(u >> 16);
    const auto up = static_cast<uint16_t>(down + 1);  // the next magnitude (may be Inf)
    const double x = std::fabs(static_cast<double>(f));
    const double lo = std::fabs(static_cast<double>(bf16_bits_to_float(down)));
    const double hi_f = std::fabs(static_cast<double>(bf16_bits_to_float(up)));
    // Rounding to Inf happens at the half-way point to 2^128, as if Inf were the next value.
    const double hi = std::isinf(hi_f) ? std::ldexp(1.0, 128) : hi_f;
    uint16_t want = down;
    if (x - lo > hi - x || (x - lo == hi - x && (down & 1u))) want = up;
    ASSERT_EQ(float_to_bf16_bits(f), want) << std::hex << u;
    ++checked;
  }
  EXPECT_GT(checked, 190000);
}

TEST(Bf16, RelativeErrorIsAtMostTheUnitRoundoff) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1e6f, 1e6f);
  for (int i = 0; i < 10000; ++i) {
    const float f = dist(rng);
    if (f == 0.0f) continue;
    EXPECT_LE(std::fabs(round_to_bf16(f) - f), std::ldexp(std::fabs(f), -8)) << f;
  }
}

TEST(Bf16, TensorsHoldBf16Elements) {
  const std::vector<bf16> v = {bf16::from_float(1.0f), bf16::from_float(-0.5f)};
  const Tensor t = Tensor::from_vector(v, {2});
  EXPECT_EQ(t.dtype(), DType::bf16);
  EXPECT_EQ(t.nbytes(), 4u);
  const std::vector<bf16> back = t.to_vector<bf16>();
  EXPECT_EQ(back[0].to_float(), 1.0f);
  EXPECT_EQ(back[1].to_float(), -0.5f);
  EXPECT_THROW(t.data<float>(), InternalError);
}
