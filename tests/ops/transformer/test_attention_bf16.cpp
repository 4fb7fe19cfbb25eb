// attention_forward / attention_backward on bf16 activations (CPU twin): each stored value is the
// float32 twin's result on the same (widened) inputs rounded once more to bf16, bit for bit; lse
// stays float32 and equals the float32 twin's; the float32 result really is rounded (not stored
// in float32 and truncated); and the dtype rules (lse float32 beside bf16, every activation bf16).
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/bf16.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "ops/transformer_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina {
namespace {

using ops::bf16_test::bits;
using ops::bf16_test::to_bf16;
using ops::bf16_test::widen;

struct Case {
  int64_t batch, tokens, heads, head_dim;
};

std::vector<uint16_t> rounded_bits(const Tensor& f32) {
  std::vector<uint16_t> out;
  for (const float v : f32.to_vector<float>()) out.push_back(float_to_bf16_bits(v));
  return out;
}

class AttentionBf16 : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionBf16, StoresTheFloat32ResultRoundedOnce) {
  const Case c = GetParam();
  const int64_t d = c.heads * c.head_dim;
  Rng rng(77 + static_cast<uint64_t>(c.tokens * 3 + c.head_dim));
  const Tensor qkv = to_bf16(ops::bf16_test::random_f32(rng, {c.batch, c.tokens, 3 * d}, 2.0));
  const Tensor dout = to_bf16(ops::bf16_test::random_f32(rng, {c.batch, c.tokens, d}));
  const Shape out_shape{c.batch, c.tokens, d}, lse_shape{c.batch, c.heads, c.tokens};

  Tensor out = Tensor::empty(out_shape, DType::bf16), lse = Tensor::empty(lse_shape);
  ops::attention_forward(qkv, c.heads, out, lse);
  Tensor out32 = Tensor::empty(out_shape), lse32 = Tensor::empty(lse_shape);
  ops::attention_forward(widen(qkv), c.heads, out32, lse32);
  EXPECT_EQ(bits(out), rounded_bits(out32));
  EXPECT_EQ(lse.to_vector<float>(), lse32.to_vector<float>());

  Tensor dqkv = Tensor::empty(qkv.shape(), DType::bf16);
  ops::attention_backward(dout, qkv, lse, c.heads, dqkv);
  Tensor dqkv32 = Tensor::empty(qkv.shape());
  ops::attention_backward(widen(dout), widen(qkv), lse32, c.heads, dqkv32);
  EXPECT_EQ(bits(dqkv), rounded_bits(dqkv32));

  // The rounding is real: most float32 results are not bf16 values already (with one token
  // dV = dout, a bf16 value, and dQ = dK = 0).
  int64_t inexact = 0;
  for (const float v : dqkv32.to_vector<float>()) inexact += round_to_bf16(v) != v;
  if (c.tokens > 1) {
    EXPECT_GT(inexact * 2, dqkv32.numel());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionBf16,
                         ::testing::Values(Case{1, 1, 1, 4}, Case{2, 7, 2, 8}, Case{2, 50, 4, 32},
                                           Case{3, 13, 3, 7}, Case{1, 65, 1, 64}));

void expect_internal(const std::string& fragment, const std::function<void()>& call) {
  try {
    call();
    ADD_FAILURE() << "accepted; expected an error naming '" << fragment << "'";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(AttentionBf16, RefusesMixedTypes) {
  const Tensor qkv = Tensor::zeros({1, 4, 6}, DType::bf16);
  Tensor out = Tensor::empty({1, 4, 2}, DType::bf16);
  Tensor lse_bf16 = Tensor::empty({1, 1, 4}, DType::bf16), lse = Tensor::empty({1, 1, 4});
  expect_internal("lse is bfloat16, expected float32 beside bfloat16 activations",
                  [&] { ops::attention_forward(qkv, 1, out, lse_bf16); });
  Tensor out32 = Tensor::empty({1, 4, 2});
  expect_internal("out is float32, expected bfloat16",
                  [&] { ops::attention_forward(qkv, 1, out32, lse); });
  Tensor dqkv32 = Tensor::empty({1, 4, 6});
  expect_internal("dqkv is float32, expected bfloat16",
                  [&] { ops::attention_backward(out, qkv, lse, 1, dqkv32); });
  // float32 activations keep a float32 lse, float64 a float64 one.
  Tensor lse64 = Tensor::empty({1, 1, 4}, DType::f64);
  expect_internal("lse is float64, expected float32 beside float32 activations", [&] {
    ops::attention_forward(Tensor::zeros({1, 4, 6}), 1, out32, lse64);
  });
  EXPECT_NO_THROW(ops::attention_forward(qkv, 1, out, lse));
}

}  // namespace
}  // namespace kasmina
