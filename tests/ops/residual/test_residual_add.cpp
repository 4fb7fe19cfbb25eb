// residual_add (the sum of a residual connection) on the CPU: exact sums in float32 and
// float64, in place, bf16 operands beside a float32 out, and argument checks. The CUDA launcher is
// compared against this twin by the whole-model CUDA tests of residual blocks.
#include <gtest/gtest.h>

#include <string>

#include "core/bf16.hpp"
#include "core/error.hpp"
#include "ops/conv_ops.hpp"
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

// bf16 operands (a bf16 convolution's input gradient) are widened exactly, then added in fp32:
// 1.5 + 2^-9 rounds to 1.5 in bf16 (8 bits of mantissa) but 1.5 + 2^-7 is exact there; the
// float32 operand keeps its low bits (1 + 2^-20 is no bf16 value).
TEST(ResidualAdd, WidensBf16OperandsBesideAFloat32Out) {
  const std::vector<float> av = {1.5f, -3.0f, 1.0f + 0x1p-7f, 0.0f};
  Tensor a16 = Tensor::empty({2, 2}, DType::bf16);
  for (size_t i = 0; i < av.size(); ++i) a16.data<bf16>()[i] = bf16::from_float(av[i]);
  const Tensor b = Tensor::from_vector<float>({0x1p-9f, 0.25f, 1.0f + 0x1p-20f, -0.0f}, {2, 2});
  Tensor out = Tensor::empty({2, 2});
  residual_add(a16, b, out);
  EXPECT_EQ(out.to_vector<float>(),
            (std::vector<float>{1.5f + 0x1p-9f, -2.75f, 2.0f + 0x1p-7f + 0x1p-20f, 0.0f}));
  residual_add(b, a16, out);
  EXPECT_EQ(out.to_vector<float>()[1], -2.75f);
  residual_add(a16, a16, out);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{3.0f, -6.0f, 2.0f + 0x1p-6f, 0.0f}));
  // Beside a float64 out, or as the out itself, bf16 is refused.
  Tensor f64 = Tensor::zeros({2, 2}, DType::f64);
  EXPECT_THROW(residual_add(a16, f64, f64), InternalError);
  EXPECT_THROW(residual_add(a16, a16, a16), InternalError);
}

// relu_mask_add (conv_ops.hpp), the identity shortcut's gradient through the block's ReLU, takes
// a bf16 g the same way: dx = (y > 0 ? dy : 0) + widen(g).
TEST(ReluMaskAdd, WidensABf16G) {
  const Tensor dy = Tensor::from_vector<float>({0x1p-9f, 0.25f, 1.0f + 0x1p-20f, 5.0f}, {2, 2});
  const Tensor y = Tensor::from_vector<float>({1.0f, 0.0f, 2.0f, -1.0f}, {2, 2});
  Tensor g16 = Tensor::empty({2, 2}, DType::bf16);
  const std::vector<float> gv = {1.5f, -3.0f, 1.0f + 0x1p-7f, 0.5f};
  for (size_t i = 0; i < gv.size(); ++i) g16.data<bf16>()[i] = bf16::from_float(gv[i]);
  Tensor dx = Tensor::empty({2, 2});
  relu_mask_add(dy, y, g16, dx);
  EXPECT_EQ(dx.to_vector<float>(),
            (std::vector<float>{1.5f + 0x1p-9f, -3.0f, 2.0f + 0x1p-7f + 0x1p-20f, 0.5f}));
  // Beside float64 tensors a bf16 g is refused (a user error naming g).
  const Tensor dy64 = Tensor::zeros({2, 2}, DType::f64), y64 = Tensor::zeros({2, 2}, DType::f64);
  Tensor dx64 = Tensor::empty({2, 2}, DType::f64);
  try {
    relu_mask_add(dy64, y64, g16, dx64);
    ADD_FAILURE() << "a bf16 g beside float64 tensors was taken";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("'g'"), std::string::npos) << e.what();
  }
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
