// Rules for single config values (ranges, allowed strings), used in the schema tables.
#pragma once
#include <string>
#include <vector>

#include "config/schema.hpp"

namespace kasmina::config_detail {

// Numbers in messages as the user would write them: 1, 0.5, 1e-08.
std::string number_text(double value);

// value >= min                         "must be >= 1, got 0"
Rule<int64_t> at_least(int64_t min);
// lo <= value <= hi                    "must be in [1, 32], got 40"
Rule<int64_t> in_range(int64_t lo, int64_t hi);
// min <= value <= max, for sizes with an upper limit (config/limits.hpp)
//                                      "must be >= 1, got 0" / "must be <= 65536, got 70000"
Rule<int64_t> bounded(int64_t min, int64_t max);
// min <= value <= 2^31-1, for counts the layers keep as 32-bit integers
//                                      "must be >= 1, got 0" / "must be <= 2147483647, got 2^31"
Rule<int64_t> int32_at_least(int64_t min);
// value >= 0                           "must be >= 0, got -1"
Rule<double> non_negative();
// value > min                          "must be > 0, got 0"
Rule<double> above(double min);
// lo <= value < hi                     "must be in [0, 1), got 1"
Rule<double> in_half_open(double lo, double hi);
// one of the listed strings            "'x' is not allowed (allowed: a, b)"
Rule<std::string> one_of(std::vector<std::string> allowed);
// any non-empty string                "must not be empty"
Rule<std::string> non_empty();
// a non-empty name without '/' or control characters (used in file names)
Rule<std::string> plain_name();
// cpu, cuda or cuda:N
Rule<std::string> device_name();

}  // namespace kasmina::config_detail
