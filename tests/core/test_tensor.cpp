#include <gtest/gtest.h>

#include "core/tensor.hpp"

using namespace kasmina;

TEST(Tensor, ViewsShareStorageWithoutCopy) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  r.data<float>()[0] = 30.0f;
  EXPECT_EQ(t.data<float>()[2], 30.0f);
  Tensor v = t.view({6});
  EXPECT_EQ(v.to_vector<float>(), (std::vector<float>{1, 2, 30, 4, 5, 6}));
  Tensor f = t.flat_range(4, {2});
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{5, 6}));
}

TEST(Tensor, CopyAndDtypeChecks) {
  Tensor a = Tensor::from_vector<int32_t>({7, 8, 9}, {3});
  Tensor b = a.to(Device::cpu());
  a.data<int32_t>()[0] = 1;
  EXPECT_EQ(b.to_vector<int32_t>(), (std::vector<int32_t>{7, 8, 9}));
  EXPECT_THROW(a.data<float>(), InternalError);
  EXPECT_THROW(a.view({4}), InternalError);
  Tensor z = Tensor::zeros({2, 3}, DType::f64);
  for (double x : z.to_vector<double>()) EXPECT_EQ(x, 0.0);
}

TEST(Device, ParsesAndRejects) {
  EXPECT_TRUE(Device::parse("cpu").is_cpu());
  EXPECT_EQ(Device::parse("cuda:3").index, 3);
  EXPECT_EQ(Device::parse("cuda").index, 0);
  EXPECT_THROW(Device::parse("gpu"), UserError);
  EXPECT_THROW(Device::parse("cuda:x"), UserError);
}
