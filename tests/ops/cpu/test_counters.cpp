// CPU fill, counter_add and column_sums.
#include <gtest/gtest.h>

#include "ops/backend_ops.hpp"
#include "ops/ops.hpp"

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

TEST(CpuCounterAdd, AddsOnEveryCounterOfAVector) {
  Tensor c = Tensor::from_vector<int64_t>({7, -2, 5000000000}, {3});
  cpu::counter_add(c, 4);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{11, 2, 5000000004}));
  // A view of one element (the trainer's step and cursor are views of one counter pair).
  Tensor second = c.rows(1, 2);
  cpu::counter_add(second, 10);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{11, 12, 5000000004}));
  Tensor too_many = Tensor::zeros({kMaxCounters + 1}, DType::i64);
  EXPECT_THROW(cpu::counter_add(too_many, 1), InternalError);
  Tensor matrix = Tensor::zeros({2, 2}, DType::i64);
  EXPECT_THROW(cpu::counter_add(matrix, 1), InternalError);
}

TEST(CpuColumnSums, SumsEveryColumn) {
  Tensor x =
      Tensor::from_vector<float>({1.0f, 2.0f, 3.0f, -4.0f, 0.5f, 1e8f, 4.0f, 0.25f, -1e8f}, {3, 3});
  Tensor out = Tensor::empty({3});
  cpu::column_sums(x, out);
  // Accumulated in double: 1e8 + 1 - 1e8 keeps the 3 that float32 arithmetic would lose.
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{1.0f, 2.75f, 3.0f}));
  Tensor empty_rows = Tensor::empty({0, 3});
  cpu::column_sums(empty_rows, out);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{0.0f, 0.0f, 0.0f}));
  Tensor wrong = Tensor::empty({2});
  EXPECT_THROW(cpu::column_sums(x, wrong), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
