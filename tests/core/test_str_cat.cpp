// str_cat: pieces appended in order, integers of every width and sign in decimal.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "core/str_cat.hpp"

namespace kasmina {
namespace {

TEST(StrCat, AppendsEveryKindOfPieceInOrder) {
  const std::string s = "mid";
  EXPECT_EQ(str_cat("M", int64_t{128}, "_N", 7, '_', s, std::string("!")), "M128_N7_mid!");
  EXPECT_EQ(str_cat(), "");
  EXPECT_EQ(str_cat("", ""), "");
}

TEST(StrCat, IntegersInDecimal) {
  EXPECT_EQ(str_cat(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(str_cat(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(str_cat(size_t{0}, int16_t{-3}, uint8_t{200}), "0-3200");
}

}  // namespace
}  // namespace kasmina
