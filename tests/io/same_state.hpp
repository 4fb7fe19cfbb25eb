// Field-by-field comparison of two checkpoint states (tensors byte for byte), for the io tests.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "io/checkpoint.hpp"

namespace kasmina::io::test {

inline void expect_same_tensor(const Tensor& a, const Tensor& b, const std::string& name) {
  ASSERT_EQ(a.dtype(), b.dtype()) << name;
  ASSERT_EQ(a.shape(), b.shape()) << name;
  ASSERT_EQ(a.nbytes(), b.nbytes()) << name;
  if (a.nbytes() > 0) {
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << name;
  }
}

inline void expect_same_state(const CheckpointState& a, const CheckpointState& b) {
  EXPECT_EQ(a.config_yaml, b.config_yaml);
  EXPECT_EQ(a.config_name, b.config_name);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.epoch_position, b.epoch_position);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    expect_same_tensor(a.tensors[i].tensor, b.tensors[i].tensor, a.tensors[i].name);
  }
  EXPECT_EQ(a.ints, b.ints);
  EXPECT_EQ(a.floats, b.floats);
  EXPECT_EQ(a.strings, b.strings);
  EXPECT_EQ(a.metrics, b.metrics);
}

}  // namespace kasmina::io::test
