// The CPU emulation of bf16 GEMM inputs (train.precision: bf16): cast_to_bf16 rounds as
// core/bf16.hpp does; the linear twins on bf16 inputs compute exactly the fp32 path on the
// rounded values; and against fp64 on the unrounded inputs the error stays within the bound the
// rounding gives: |ỹ - y| <= (2u + u²) Σ_k |x_k w_k| + γ_K Σ_k |x̃_k w̃_k|, u = 2^-8 (bf16),
// γ_K = K·2^-24 / (1 - K·2^-24) (fp32 accumulation), which is also tight enough to fail an
// unrounded path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/bf16.hpp"
#include "core/rng.hpp"
#include "ops/backend_ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina::ops {
namespace {

using bf16_test::random_f32;
using bf16_test::to_bf16;

// The float32 tensor of the values the bf16 copy holds.
Tensor rounded(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  for (float& x : v) x = round_to_bf16(x);
  return Tensor::from_vector(v, t.shape());
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(CpuBf16, CastRoundsEveryElementAsTheStorageType) {
  const std::vector<uint32_t> bits = {0x3F808000, 0x3F818000, 0x00018000, 0x7F7F8000,
                                      0x7F800001, 0xFF800000, 0x80000000, 0x40490FDB};
  std::vector<float> v(bits.size());
  std::memcpy(v.data(), bits.data(), bits.size() * sizeof(float));
  const Tensor out = to_bf16(Tensor::from_vector(v, {2, 4}));
  const std::vector<uint16_t> want = {0x3F80, 0x3F82, 0x0002, 0x7F80,
                                      0x7FC0, 0xFF80, 0x8000, 0x4049};
  const std::vector<bf16> got = out.to_vector<bf16>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i].bits, want[i]) << i;
}

TEST(CpuBf16, CastChecksItsArguments) {
  Tensor f64 = Tensor::zeros({3}, DType::f64), dst = Tensor::empty({3}, DType::bf16);
  EXPECT_THROW(cast_to_bf16(f64, dst), InternalError);
  Tensor small = Tensor::empty({2}, DType::bf16);
  EXPECT_THROW(cast_to_bf16(Tensor::zeros({3}), small), InternalError);
  Tensor f32_dst = Tensor::empty({3});
  EXPECT_THROW(cast_to_bf16(Tensor::zeros({3}), f32_dst), InternalError);
}

// Forward, input gradient and weight gradient on bf16 inputs are the fp32 twins on the rounded
// values, bit for bit (with the fused activations, their saved state and the bias gradients).
TEST(CpuBf16, LinearOpsOnBf16InputsAreTheFp32PathOnRoundedValues) {
  Rng rng(41);
  const int64_t m = 9, n = 5, k = 13;
  const Tensor x = random_f32(rng, {m, k}), w = random_f32(rng, {n, k});
  const Tensor b = random_f32(rng, {n}), dy = random_f32(rng, {m, n});
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    Tensor y16 = Tensor::empty({m, n}), y32 = Tensor::empty({m, n});
    Tensor aux16 = make_linear_aux(m, n, act, Device::cpu());
    Tensor aux32 = make_linear_aux(m, n, act, Device::cpu());
    linear_forward(to_bf16(x), to_bf16(w), b, act, y16, aux16);
    linear_forward(rounded(x), rounded(w), b, act, y32, aux32);
    EXPECT_TRUE(same_bits(y16, y32)) << activation_name(act);
    if (act != Activation::none) {
      EXPECT_TRUE(same_bits(aux16, aux32));
    }

    const Tensor pre = random_f32(rng, {m, k});
    Tensor pre_aux = make_linear_aux(m, k, act, Device::cpu()), unused = Tensor::empty({m, k});
    Tensor dx16 = Tensor::empty({m, k}), dx32 = Tensor::empty({m, k});
    Tensor db16 = Tensor::empty({k}), db32 = Tensor::empty({k});
    const bool fused = act != Activation::none;
    if (fused) {
      Tensor eye = Tensor::zeros({k, k});
      for (int64_t i = 0; i < k; ++i) eye.data<float>()[i * k + i] = 1.0f;
      linear_forward(pre, eye, Tensor::zeros({k}), act, unused, pre_aux);
    }
    linear_backward_input(to_bf16(dy), to_bf16(w), act, pre_aux, dx16, fused ? &db16 : nullptr);
    linear_backward_input(rounded(dy), rounded(w), act, pre_aux, dx32, fused ? &db32 : nullptr);
    EXPECT_TRUE(same_bits(dx16, dx32));
    if (fused) {
      EXPECT_TRUE(same_bits(db16, db32));
    }

    Tensor dw16 = Tensor::empty({n, k}), dw32 = Tensor::empty({n, k});
    Tensor dbw16 = Tensor::empty({n}), dbw32 = Tensor::empty({n});
    linear_backward_weight(to_bf16(dy), to_bf16(x), dw16, &dbw16);
    linear_backward_weight(rounded(dy), rounded(x), dw32, &dbw32);
    EXPECT_TRUE(same_bits(dw16, dw32));
    EXPECT_TRUE(same_bits(dbw16, dbw32));
  }
}

TEST(CpuBf16, MixedInputDtypesAreRefused) {
  const Tensor x16 = to_bf16(Tensor::zeros({2, 3})), w32 = Tensor::zeros({4, 3});
  Tensor y = Tensor::empty({2, 4}), aux;
  EXPECT_THROW(linear_forward(x16, w32, Tensor(), Activation::none, y, aux), InternalError);
}

// The forward against float64 on the unrounded inputs: within the rounding bound, and far
// beyond the error of the fp32 path on the same inputs, so the rounding happened.
TEST(CpuBf16, ForwardErrorIsWithinTheBoundTheRoundingGives) {
  Rng rng(7);
  const int64_t m = 16, n = 24, k = 784;
  const Tensor x = random_f32(rng, {m, k}, 3.0), w = random_f32(rng, {n, k}, 0.05);
  Tensor y = Tensor::empty({m, n}), y32 = Tensor::empty({m, n}), aux;
  linear_forward(to_bf16(x), to_bf16(w), Tensor(), Activation::none, y, aux);
  linear_forward(x, w, Tensor(), Activation::none, y32, aux);
  const std::vector<float> xv = x.to_vector<float>(), wv = w.to_vector<float>();
  const std::vector<float> yv = y.to_vector<float>(), y32v = y32.to_vector<float>();
  const double u = std::ldexp(1.0, -8), eps32 = std::ldexp(1.0, -24);
  const double gamma = static_cast<double>(k) * eps32 / (1.0 - static_cast<double>(k) * eps32);
  double worst = 0.0, max_err = 0.0, max_err32 = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0.0, mag = 0.0, mag_rounded = 0.0;
      for (int64_t t = 0; t < k; ++t) {
        const double a = xv[i * k + t], c = wv[j * k + t];
        exact += a * c;
        mag += std::fabs(a * c);
        mag_rounded += std::fabs(static_cast<double>(round_to_bf16(xv[i * k + t])) *
                                 round_to_bf16(wv[j * k + t]));
      }
      const double err = std::fabs(yv[i * n + j] - exact);
      const double bound = (2.0 * u + u * u) * mag + gamma * mag_rounded;
      EXPECT_LE(err, bound) << "y[" << i << "," << j << "]";
      worst = std::max(worst, err / bound);
      max_err = std::max(max_err, err);
      max_err32 = std::max(max_err32, std::fabs(y32v[i * n + j] - exact));
    }
  }
  EXPECT_GT(worst, 0.0);
  EXPECT_GT(max_err, 30.0 * max_err32) << "no error beyond fp32's: the inputs were not rounded";
}

}  // namespace
}  // namespace kasmina::ops
