// The CPU emulation of bf16 activations between linear layers (docs/PRECISION.md): a linear
// forward with a bf16 y and an input-gradient with a bf16 dx store the fp32 result rounded once
// (core/bf16.hpp), after bias and activation (or the activation's derivative), where CUDA's
// bf16-output GEMM stores it; a GELU layer's saved pre-activation is rounded too (cuBLASLt's aux
// takes the output's type), a ReLU layer's is not (CUDA keeps a bit mask); the bias gradient of
// a bf16 dx is the sum of the stored bf16 values. Each against an independent host computation
// in float64 on the same (rounded) operands, and bit for bit against the fp32 twin.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/bf16.hpp"
#include "core/gelu.hpp"
#include "core/rng.hpp"
#include "ops/backend_ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina::ops {
namespace {

using bf16_test::random_f32;
using bf16_test::to_bf16;

// The float32 values of a bf16 tensor.
std::vector<float> widened(const Tensor& t) {
  std::vector<float> out;
  for (const bf16& b : t.to_vector<bf16>()) out.push_back(b.to_float());
  return out;
}

std::vector<uint16_t> bits_of(const Tensor& t) {
  std::vector<uint16_t> out;
  for (const bf16& b : t.to_vector<bf16>()) out.push_back(b.bits);
  return out;
}

std::vector<uint16_t> rounded_bits(const Tensor& t) {
  std::vector<uint16_t> out;
  for (float v : t.to_vector<float>()) out.push_back(float_to_bf16_bits(v));
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

float act_value(Activation act, float pre) {
  if (act == Activation::relu) return pre > 0.0f ? pre : 0.0f;
  if (act == Activation::gelu) return gelu_value(pre);
  return pre;
}

// y: the fp32 twin's result rounded once; aux: the rounded (GELU) or exact (ReLU) pre-activation.
TEST(CpuBf16Out, ForwardStoresTheFp32ResultRoundedOnce) {
  Rng rng(5);
  const int64_t m = 11, n = 7, k = 37;
  const Tensor x = to_bf16(random_f32(rng, {m, k})), w = to_bf16(random_f32(rng, {n, k}));
  const Tensor b = random_f32(rng, {n});
  const std::vector<float> xv = widened(x), wv = widened(w), bv = b.to_vector<float>();
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    Tensor y16 = Tensor::empty({m, n}, DType::bf16), y32 = Tensor::empty({m, n});
    Tensor aux16 = make_linear_aux(m, n, act, Device::cpu(), DType::bf16);
    Tensor aux32 = make_linear_aux(m, n, act, Device::cpu());
    linear_forward(x, w, b, act, y16, aux16);
    linear_forward(x, w, b, act, y32, aux32);
    EXPECT_EQ(bits_of(y16), rounded_bits(y32)) << activation_name(act);
    if (act == Activation::gelu) {
      ASSERT_EQ(aux16.dtype(), DType::bf16);
      EXPECT_EQ(bits_of(aux16), rounded_bits(aux32));
    } else if (act == Activation::relu) {
      ASSERT_EQ(aux16.dtype(), DType::f32);
      EXPECT_TRUE(same_bits(aux16, aux32));
    }
    // Independently: float64 sums of the rounded operands, then the one rounding.
    const std::vector<float> got = widened(y16);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = bv[j];
        for (int64_t t = 0; t < k; ++t) s += static_cast<double>(xv[i * k + t]) * wv[j * k + t];
        const float want = act_value(act, static_cast<float>(s));
        // fp32 sums of 37 terms against float64: a few fp32 ulps, then one bf16 rounding.
        EXPECT_NEAR(got[i * n + j], want, std::fabs(want) * 0.0079 + 1e-6)
            << activation_name(act) << " y[" << i << "," << j << "]";
      }
    }
  }
}

// dx: (dy·W) ⊙ act'(pre) in fp32, rounded once; in_dbias: the sums of the stored bf16 values.
TEST(CpuBf16Out, InputGradientStoresTheFp32ResultRoundedOnce) {
  Rng rng(9);
  const int64_t m = 13, n = 6, k = 10;
  const Tensor dy = to_bf16(random_f32(rng, {m, n})), w = to_bf16(random_f32(rng, {n, k}));
  const Tensor pre = random_f32(rng, {m, k});
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    const bool fused = act != Activation::none;
    // The saved state of a layer with a bf16 output whose pre-activation is `pre` (identity
    // weight in bf16: exact), and the same state as a float32 layer holds it.
    Tensor aux16 = make_linear_aux(m, k, act, Device::cpu(), DType::bf16);
    Tensor pre_used = pre;
    if (fused) {
      std::vector<float> eye(static_cast<size_t>(k * k), 0.0f);
      for (int64_t i = 0; i < k; ++i) eye[static_cast<size_t>(i * k + i)] = 1.0f;
      Tensor h = Tensor::empty({m, k}, DType::bf16);
      linear_forward(to_bf16(pre), to_bf16(Tensor::from_vector(eye, {k, k})), Tensor::zeros({k}),
                     act, h, aux16);
      pre_used = Tensor::from_vector(widened(to_bf16(pre)), {m, k});
    }
    Tensor aux32 = make_linear_aux(m, k, act, Device::cpu());
    if (fused) aux32.copy_from(pre_used);

    Tensor dx16 = Tensor::empty({m, k}, DType::bf16), dx32 = Tensor::empty({m, k});
    Tensor db16 = Tensor::empty({k}), db32 = Tensor::empty({k});
    linear_backward_input(dy, w, act, aux16, dx16, fused ? &db16 : nullptr);
    linear_backward_input(dy, w, act, aux32, dx32, fused ? &db32 : nullptr);
    EXPECT_EQ(bits_of(dx16), rounded_bits(dx32)) << activation_name(act);
    if (!fused) continue;
    const std::vector<float> stored = widened(dx16);
    std::vector<float> want(static_cast<size_t>(k));
    for (int64_t c = 0; c < k; ++c) {
      double s = 0.0;
      for (int64_t r = 0; r < m; ++r) s += stored[r * k + c];
      want[c] = static_cast<float>(s);
    }
    EXPECT_EQ(db16.to_vector<float>(), want) << activation_name(act) << ": in_dbias";
    // The bf16 activation's derivative from its bf16 saved state, as the op table reads it.
    Tensor g = Tensor::empty({m, k}), g32 = Tensor::empty({m, k});
    const Tensor dyk = random_f32(rng, {m, k});
    activation_backward_aux(act, dyk, aux16, g);
    activation_backward_aux(act, dyk, aux32, g32);
    EXPECT_TRUE(same_bits(g, g32)) << activation_name(act);
  }
}

TEST(CpuBf16Out, Bf16OutputsNeedBf16InputsAndTheirSavedState) {
  const Tensor x32 = Tensor::zeros({2, 3}), w32 = Tensor::zeros({4, 3});
  const Tensor x16 = to_bf16(x32), w16 = to_bf16(w32);
  Tensor y16 = Tensor::empty({2, 4}, DType::bf16), none;
  EXPECT_THROW(linear_forward(x32, w32, Tensor(), Activation::none, y16, none), InternalError);
  Tensor gelu32 = make_linear_aux(2, 4, Activation::gelu, Device::cpu());
  EXPECT_THROW(linear_forward(x16, w16, Tensor(), Activation::gelu, y16, gelu32), InternalError);
  Tensor dx16 = Tensor::empty({2, 3}, DType::bf16);
  const Tensor dy32 = Tensor::zeros({2, 4});
  EXPECT_THROW(linear_backward_input(dy32, w32, Activation::none, Tensor(), dx16, nullptr),
               InternalError);
  Tensor gelu3 = make_linear_aux(2, 3, Activation::gelu, Device::cpu());
  Tensor db = Tensor::empty({3});
  EXPECT_THROW(linear_backward_input(to_bf16(dy32), w16, Activation::gelu, gelu3, dx16, &db),
               InternalError);
}

}  // namespace
}  // namespace kasmina::ops
