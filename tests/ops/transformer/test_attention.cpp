// attention_forward / attention_backward (CPU twin): against a naive double implementation
// written from the definition (explicit Q, K, V matrices per head), the softmax rows summing to
// one, the single-token identity, and the limits refused with errors naming them.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "ops/transformer_ops.hpp"
#include "tests/ops/cpu/op_test_utils.hpp"

namespace kasmina {
namespace {

using Matrix = std::vector<std::vector<double>>;

// One head of qkv [B,T,3D] as T x dh matrices of part 0 (q), 1 (k) or 2 (v).
Matrix head_part(const std::vector<double>& qkv, int64_t b, int64_t t, int64_t d, int64_t dh,
                 int64_t h, int part) {
  Matrix m(static_cast<size_t>(t), std::vector<double>(static_cast<size_t>(dh)));
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t c = 0; c < dh; ++c) m[i][c] = qkv[((b * t + i) * 3 + part) * d + h * dh + c];
  }
  return m;
}

// softmax(Q Kᵀ / sqrt(dh)) V per head, heads concatenated: out [B,T,D] flattened.
std::vector<double> naive_attention(const std::vector<double>& qkv, int64_t batch, int64_t t,
                                    int64_t heads, int64_t dh) {
  const int64_t d = heads * dh;
  std::vector<double> out(static_cast<size_t>(batch * t * d));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const Matrix q = head_part(qkv, b, t, d, dh, h, 0), k = head_part(qkv, b, t, d, dh, h, 1),
                   v = head_part(qkv, b, t, d, dh, h, 2);
      for (int64_t i = 0; i < t; ++i) {
        std::vector<double> w(static_cast<size_t>(t));
        double total = 0.0;
        for (int64_t j = 0; j < t; ++j) {
          double s = 0.0;
          for (int64_t c = 0; c < dh; ++c) s += q[i][c] * k[j][c];
          w[j] = std::exp(s / std::sqrt(static_cast<double>(dh)));
          total += w[j];
        }
        for (int64_t c = 0; c < dh; ++c) {
          double o = 0.0;
          for (int64_t j = 0; j < t; ++j) o += w[j] / total * v[j][c];
          out[(b * t + i) * d + h * dh + c] = o;
        }
      }
    }
  }
  return out;
}

struct Case {
  int64_t batch, tokens, heads, head_dim;
};

class AttentionNaive : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionNaive, MatchesTheDefinitionInFloat32AndFloat64) {
  const Case c = GetParam();
  const int64_t d = c.heads * c.head_dim;
  Rng rng(31 + static_cast<uint64_t>(c.tokens));
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor qkv = ops::cpu_test::random_tensor(rng, {c.batch, c.tokens, 3 * d}, dt, -2.0, 2.0);
    Tensor out = Tensor::empty({c.batch, c.tokens, d}, dt);
    Tensor lse = Tensor::empty({c.batch, c.heads, c.tokens}, dt);
    ops::attention_forward(qkv, c.heads, out, lse);
    const std::vector<double> in = ops::cpu_test::values(qkv);
    const std::vector<double> want = naive_attention(in, c.batch, c.tokens, c.heads, c.head_dim);
    const std::vector<double> got = ops::cpu_test::values(out);
    ASSERT_EQ(got.size(), want.size());
    const double tol = dt == DType::f32 ? 2e-6 : 1e-12;  // one rounding of a double result
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::abs(want[i]))) << dtype_name(dt) << " " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionNaive,
                         ::testing::Values(Case{1, 1, 1, 4}, Case{2, 7, 2, 8}, Case{1, 50, 4, 32},
                                           Case{3, 13, 3, 7}, Case{1, 65, 1, 64}));

// Σ_j exp(s_ij - lse_i) = 1 for every row, recomputing s from qkv; and with V = 1 everywhere the
// output (Σ_j p_ij · 1) is exactly 1 up to rounding.
TEST(Attention, SoftmaxRowsSumToOne) {
  const int64_t b = 2, t = 9, heads = 2, dh = 4, d = heads * dh;
  Rng rng(5);
  std::vector<double> qkv = ops::cpu_test::values(
      ops::cpu_test::random_tensor(rng, {b, t, 3 * d}, DType::f64, -3.0, 3.0));
  for (int64_t r = 0; r < b * t; ++r) {
    for (int64_t c = 0; c < d; ++c) qkv[r * 3 * d + 2 * d + c] = 1.0;
  }
  const Tensor in = Tensor::from_vector(qkv, {b, t, 3 * d});
  Tensor out = Tensor::empty({b, t, d}, DType::f64), lse = Tensor::empty({b, heads, t}, DType::f64);
  ops::attention_forward(in, heads, out, lse);
  for (double v : out.to_vector<double>()) EXPECT_NEAR(v, 1.0, 1e-14);
  const std::vector<double> l = lse.to_vector<double>();
  for (int64_t bb = 0; bb < b; ++bb) {
    for (int64_t h = 0; h < heads; ++h) {
      const Matrix q = head_part(qkv, bb, t, d, dh, h, 0), k = head_part(qkv, bb, t, d, dh, h, 1);
      for (int64_t i = 0; i < t; ++i) {
        double sum = 0.0, largest = 0.0;
        for (int64_t j = 0; j < t; ++j) {
          double s = 0.0;
          for (int64_t c = 0; c < dh; ++c) s += q[i][c] * k[j][c];
          const double p = std::exp(s / 2.0 - l[(bb * heads + h) * t + i]);  // sqrt(dh) = 2
          sum += p;
          largest = std::max(largest, p);
        }
        EXPECT_NEAR(sum, 1.0, 1e-12);
        EXPECT_LT(largest, 0.999);  // the scores really differ: not a one-hot softmax
      }
    }
  }
}

// One token: the softmax over one key is 1, so out = v and lse = q·k / sqrt(dh).
TEST(Attention, OneTokenOutputIsV) {
  const std::vector<float> qkv = {0.5f, -1.0f, 2.0f, 3.0f, 4.0f, -5.0f, 0.25f, 7.0f, -8.0f};
  const Tensor in = Tensor::from_vector(qkv, {1, 1, 9});
  Tensor out = Tensor::empty({1, 1, 3}), lse = Tensor::empty({1, 1, 1});
  ops::attention_forward(in, 1, out, lse);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{0.25f, 7.0f, -8.0f}));
  EXPECT_NEAR(lse.to_vector<float>()[0], (1.5 - 4.0 - 10.0) / std::sqrt(3.0), 1e-6);
  // Its gradient: dV = dout, dQ = dK = 0 (the softmax of one key does not move), up to the
  // float32 rounding of the saved lse (p = exp(s - lse) = 1 - O(1e-7)).
  const Tensor dout = Tensor::from_vector<float>({1.0f, -2.0f, 3.0f}, {1, 1, 3});
  Tensor dqkv = Tensor::empty({1, 1, 9});
  ops::attention_backward(dout, in, lse, 1, dqkv);
  const std::vector<float> g = dqkv.to_vector<float>();
  const std::vector<float> want = {0, 0, 0, 0, 0, 0, 1, -2, 3};
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(g[i], want[i], 1e-5f) << i;
}

// Equal keys: uniform attention, out = mean of the values; dQ = 0 whatever dout.
TEST(Attention, EqualKeysAverageTheValues) {
  const int64_t t = 4, d = 2;
  std::vector<double> qkv(static_cast<size_t>(t * 3 * d));
  for (int64_t i = 0; i < t; ++i) {
    qkv[i * 6 + 0] = 0.3 * static_cast<double>(i);  // q differs per row
    qkv[i * 6 + 1] = -0.7;
    qkv[i * 6 + 2] = 1.0;  // k the same for every row
    qkv[i * 6 + 3] = 2.0;
    qkv[i * 6 + 4] = static_cast<double>(i);  // v = (i, i²)
    qkv[i * 6 + 5] = static_cast<double>(i * i);
  }
  const Tensor in = Tensor::from_vector(qkv, {1, t, 3 * d});
  Tensor out = Tensor::empty({1, t, d}, DType::f64), lse = Tensor::empty({1, 1, t}, DType::f64);
  ops::attention_forward(in, 1, out, lse);
  const std::vector<double> o = out.to_vector<double>();
  for (int64_t i = 0; i < t; ++i) {
    EXPECT_NEAR(o[i * 2], 1.5, 1e-14);      // mean of 0, 1, 2, 3
    EXPECT_NEAR(o[i * 2 + 1], 3.5, 1e-14);  // mean of 0, 1, 4, 9
  }
  Rng rng(3);
  const Tensor dout = ops::cpu_test::random_tensor(rng, {1, t, d}, DType::f64);
  Tensor dqkv = Tensor::empty({1, t, 3 * d}, DType::f64);
  ops::attention_backward(dout, in, lse, 1, dqkv);
  const std::vector<double> g = dqkv.to_vector<double>();
  for (int64_t i = 0; i < t; ++i) {
    EXPECT_NEAR(g[i * 6], 0.0, 1e-14);
    EXPECT_NEAR(g[i * 6 + 1], 0.0, 1e-14);
  }
}

void expect_refused(const Shape& qkv_shape, int64_t heads, const std::string& fragment) {
  const Tensor qkv = Tensor::zeros(qkv_shape);
  const int64_t d = qkv_shape[2] / 3;
  Tensor out = Tensor::empty({qkv_shape[0], qkv_shape[1], d});
  Tensor lse = Tensor::empty({qkv_shape[0], heads, qkv_shape[1]});
  try {
    ops::attention_forward(qkv, heads, out, lse);
    ADD_FAILURE() << "accepted " << shape_str(qkv_shape) << " with " << heads << " heads";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Attention, RefusesShapesPastItsLimits) {
  expect_refused({1, 257, 6}, 1, "kAttentionMaxTokens");
  expect_refused({1, 4, 3 * 65}, 1, "kAttentionMaxHeadDim");
  expect_refused({1, 4, 3 * 6}, 4, "4 heads do not divide the width 6");
  expect_refused({1, 4, 10}, 1, "is not 3D");
  // The limits themselves are accepted.
  Tensor out = Tensor::empty({1, 256, 64}), lse = Tensor::empty({1, 1, 256});
  EXPECT_NO_THROW(ops::attention_forward(Tensor::zeros({1, 256, 192}), 1, out, lse));
}

}  // namespace
}  // namespace kasmina
