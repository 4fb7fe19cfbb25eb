// Test helpers for checkpoint sections: two tensors the same to the bit, and two saved sections
// (a RunState or a controller's state: named host tensors, integers and floats) the same entry
// for entry, in the same order, to the bit.
#pragma once
#include <gtest/gtest.h>

#include <cstring>

#include "core/tensor.hpp"

namespace kasmina::testing {

inline bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

template <class Section>
void expect_same_section(const Section& a, const Section& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    EXPECT_TRUE(same_tensor(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;
  }
  EXPECT_EQ(a.ints, b.ints);
  ASSERT_EQ(a.floats.size(), b.floats.size());
  for (const auto& [k, v] : a.floats) EXPECT_EQ(std::memcmp(&v, &b.floats.at(k), sizeof v), 0) << k;
}

}  // namespace kasmina::testing
