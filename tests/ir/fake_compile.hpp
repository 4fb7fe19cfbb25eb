// A test compiler for the blueprint compiler's tests (tests/ir/test_blueprint_link.cpp,
// test_blueprint_tiers.cpp): it compiles nothing and names what it was given.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ops/nvrtc.hpp"

namespace kasmina::ops {

inline bool has_option(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Test compiler: names what it compiled ("fused", "template", or "rows" and the row program's
// KS_PROGRAM option); checks the options each program of a linked module is compiled with.
inline NvrtcOutput fake_compile(const std::string& source, const std::string&,
                                const std::vector<std::string>& options) {
  if (!has_option(options, "-rdc=true")) return NvrtcOutput{true, "fused", ""};
  const bool templ = source.find("__global__") != std::string::npos;
  if (templ) {
    EXPECT_EQ(source.find("ks_row_delta(const float* __restrict__ xr, const float* __restrict__ "
                          "p, float* __restrict__ out) {"),
              std::string::npos)
        << "the template defines no row function";
    return NvrtcOutput{true, "template", ""};
  }
  EXPECT_TRUE(has_option(options, "--maxrregcount=128"));  // C = 8: the backward kernel's bound
  EXPECT_EQ(source.find("__global__"), std::string::npos);
  return NvrtcOutput{true, "rows" + options.back(), ""};
}

}  // namespace kasmina::ops
