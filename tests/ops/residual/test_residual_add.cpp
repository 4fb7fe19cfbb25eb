// residual_add (the sum of a residual connection) on the CPU: exact sums in float32 and
// float64, in place, and argument checks. The CUDA launcher is compared against this twin by
// the whole-model CUDA tests of residual blocks.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "ops/residual/residual_add.hpp"

namespace kasmina::ops {
namespace {

TEST(ResidualAdd, AddsElementwiseInFloat32AndFloat64) {
  const Tensor a = Tensor::from_vector<float>({1.0f, 2.5f, -3.0f, 1e-8f}, {2, 2});
  const Tensor b = Tensor::from_vector<float>({0.5f, -2.5f, 4.0f, 1.0f}, {2, 2});
  Tensor out = Tensor::empty({2, 2});
  residual_add(a, b, out);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{1.5f, 0.0f, 1.0f, 1.0f + 1e-8f}));
  const Tensor c = Tensor::from_vector<double>({0.1, 0.2}, {2});
  Tensor d = Tensor::empty({2}, DType::f64);
  residual_add(c, c, d);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{0.2, 0.4}));
}

TEST(ResidualAdd, MayWriteOverAnInput) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3}, {3});
  const Tensor b = Tensor::from_vector<float>({10, 20, 30}, {3});
  residual_add(a, b, a);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{11, 22, 33}));
}

TEST(ResidualAdd, RejectsMismatchedTensors) {
  const Tensor a = Tensor::zeros({2, 3});
  const Tensor b = Tensor::zeros({3, 2});
  Tensor out = Tensor::zeros({2, 3});
  EXPECT_THROW(residual_add(a, b, out), InternalError);
  const Tensor f64 = Tensor::zeros({2, 3}, DType::f64);
  EXPECT_THROW(residual_add(a, f64, out), InternalError);
  Tensor ints = Tensor::zeros({2, 3}, DType::i32);
  EXPECT_THROW(residual_add(ints, ints, ints), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
