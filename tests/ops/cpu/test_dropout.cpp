// CPU dropout: the Philox mask definition, p = 0, the kept fraction, determinism in
// (seed, stream, step), and the backward given the mask against central differences.
#include <gtest/gtest.h>

#include "core/philox.hpp"
#include "op_test_utils.hpp"
#include "ops/backend_ops.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::expect_gradient_matches;
using cpu_test::numeric_gradient;
using cpu_test::random_tensor;
using cpu_test::values;
using cpu_test::weighted_sum;

Tensor step_tensor(int64_t step) {
  return Tensor::from_vector<int64_t>({step}, {1});
}

TEST(CpuDropout, ZeroProbabilityIsIdentity) {
  Rng rng(600);
  const Tensor x = random_tensor(rng, {7, 9}, DType::f32);
  Tensor y = Tensor::empty({7, 9}), mask = Tensor::empty({7, 9}, DType::u8);
  cpu::dropout_forward(x, 0.0f, 42, 3, step_tensor(5), y, mask);
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  for (uint8_t k : mask.to_vector<uint8_t>()) EXPECT_EQ(k, 1);
}

TEST(CpuDropout, MaskFollowsPhiloxAndScalesKeptValues) {
  const int64_t count = 100000;
  const float p = 0.3f;
  const uint64_t seed = 0x1234567890abcdefull;
  const uint32_t stream = 7;
  const int64_t step = 11;
  Rng rng(601);
  const Tensor x = random_tensor(rng, {count / 100, 100}, DType::f32);
  Tensor y = Tensor::empty(x.shape()), mask = Tensor::empty(x.shape(), DType::u8);
  cpu::dropout_forward(x, p, seed, stream, step_tensor(step), y, mask);
  const std::vector<float> xs = x.to_vector<float>(), ys = y.to_vector<float>();
  const std::vector<uint8_t> keep = mask.to_vector<uint8_t>();
  int64_t kept = 0;
  for (int64_t i = 0; i < count; ++i) {
    const size_t k = static_cast<size_t>(i);
    const float u =
        philox_uniform_at(seed, stream, static_cast<uint64_t>(step), static_cast<uint64_t>(i));
    ASSERT_EQ(keep[k], u >= p ? 1 : 0) << "element " << i;
    EXPECT_EQ(ys[k], keep[k] ? xs[k] / (1.0f - p) : 0.0f) << "element " << i;
    kept += keep[k];
  }
  // Binomial(1e5, 0.7): standard deviation 0.00145 of the fraction; allow 5 of them.
  EXPECT_NEAR(static_cast<double>(kept) / count, 1.0 - p, 0.0073);
}

TEST(CpuDropout, DrawEqualToProbabilityIsKept) {
  // With p equal to element 5's own draw, keep = u >= p keeps element 5 exactly at the boundary.
  const uint64_t seed = 77;
  const uint32_t stream = 2;
  const int64_t step = 9;
  const float p = philox_uniform_at(seed, stream, step, 5);
  ASSERT_GT(p, 0.0f);
  const Tensor x = Tensor::from_vector<double>(std::vector<double>(16, 2.0), {16});
  Tensor y = Tensor::empty({16}, DType::f64), mask = Tensor::empty({16}, DType::u8);
  cpu::dropout_forward(x, p, seed, stream, step_tensor(step), y, mask);
  EXPECT_EQ(mask.to_vector<uint8_t>()[5], 1);
  EXPECT_EQ(y.to_vector<double>()[5], 2.0 / (1.0 - static_cast<double>(p)));
}

TEST(CpuDropout, MaskDependsOnlyOnSeedStreamAndStep) {
  const Tensor x = Tensor::zeros({64, 64});
  Tensor y = Tensor::empty({64, 64});
  const auto mask_for = [&](uint64_t seed, uint32_t stream, int64_t step) {
    Tensor mask = Tensor::empty({64, 64}, DType::u8);
    cpu::dropout_forward(x, 0.5f, seed, stream, step_tensor(step), y, mask);
    return mask.to_vector<uint8_t>();
  };
  const std::vector<uint8_t> base = mask_for(9, 1, 100);
  EXPECT_EQ(mask_for(9, 1, 100), base);
  EXPECT_NE(mask_for(9, 1, 101), base);
  EXPECT_NE(mask_for(9, 2, 100), base);
  EXPECT_NE(mask_for(10, 1, 100), base);
}

TEST(CpuDropout, BackwardGivenMaskMatchesFiniteDifferences) {
  const float p = 0.25f;
  Rng rng(602);
  Tensor x = random_tensor(rng, {5, 8}, DType::f64);
  const Tensor r = random_tensor(rng, {5, 8}, DType::f64);
  Tensor y = Tensor::empty({5, 8}, DType::f64), mask = Tensor::empty({5, 8}, DType::u8);
  const Tensor step = step_tensor(3);
  const auto loss = [&] {
    cpu::dropout_forward(x, p, 5, 0, step, y, mask);
    return weighted_sum(y, r);
  };
  loss();
  int64_t dropped = 0;
  for (uint8_t k : mask.to_vector<uint8_t>()) dropped += k == 0;
  ASSERT_GT(dropped, 0) << "the mask should drop something at p = 0.25 on 40 elements";
  Tensor dx = Tensor::empty({5, 8}, DType::f64);
  cpu::dropout_backward(r, mask, p, dx);
  expect_gradient_matches(values(dx), numeric_gradient(x, loss), "dx");
}

TEST(CpuDropout, RejectsProbabilityOutsideRange) {
  const Tensor x = Tensor::zeros({4});
  Tensor y = Tensor::empty({4}), mask = Tensor::empty({4}, DType::u8);
  EXPECT_THROW(cpu::dropout_forward(x, 1.0f, 1, 0, step_tensor(0), y, mask), InternalError);
  EXPECT_THROW(cpu::dropout_forward(x, -0.1f, 1, 0, step_tensor(0), y, mask), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
