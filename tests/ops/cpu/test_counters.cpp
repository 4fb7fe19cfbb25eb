// CPU fill and counter_add.
#include <gtest/gtest.h>

#include "ops/backend_ops.hpp"

namespace kasmina::ops {
namespace {

TEST(CpuFill, EveryDtype) {
  Tensor f = Tensor::empty({2, 3});
  cpu::fill(f, 1.5);
  EXPECT_EQ(f.to_vector<float>(), std::vector<float>(6, 1.5f));
  Tensor d = Tensor::empty({4}, DType::f64);
  cpu::fill(d, -0.1);
  EXPECT_EQ(d.to_vector<double>(), std::vector<double>(4, -0.1));
  Tensor i = Tensor::empty({3}, DType::i32);
  cpu::fill(i, -7);
  EXPECT_EQ(i.to_vector<int32_t>(), std::vector<int32_t>(3, -7));
  Tensor l = Tensor::empty({2}, DType::i64);
  cpu::fill(l, 5000000000.0);
  EXPECT_EQ(l.to_vector<int64_t>(), std::vector<int64_t>(2, 5000000000));
  Tensor u = Tensor::empty({2}, DType::u8);
  EXPECT_THROW(cpu::fill(u, 1), InternalError);
}

TEST(CpuCounterAdd, AddsOnTheCounter) {
  Tensor c = Tensor::from_vector<int64_t>({41}, {1});
  cpu::counter_add(c, 1);
  cpu::counter_add(c, -3);
  cpu::counter_add(c, 100);
  EXPECT_EQ(c.to_vector<int64_t>()[0], 139);
  Tensor wrong = Tensor::zeros({1}, DType::i32);
  EXPECT_THROW(cpu::counter_add(wrong, 1), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
