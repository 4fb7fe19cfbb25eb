// activation_backward_aux_bf16 on the CPU (ops/precision_ops.hpp): the activation's derivative
// from the saved pre-activation, the product rounded once to bf16, the bias gradient summed over
// the stored values; a bf16 g (ReLU, in place) gives the bits of rounding the fp32 product; and
// the op composed after a plain bf16 GEMM is the input-gradient twin's bf16 dx bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/bf16.hpp"
#include "core/error.hpp"
#include "core/gelu.hpp"
#include "core/rng.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina::ops {
namespace {

using bf16_test::random_f32;
using bf16_test::to_bf16;

std::vector<uint16_t> bits_of(const Tensor& t) {
  std::vector<uint16_t> out;
  for (const bf16& b : t.to_vector<bf16>()) out.push_back(b.bits);
  return out;
}

float derivative(Activation act, float pre) {
  if (act == Activation::relu) return pre > 0.0f ? 1.0f : 0.0f;
  if (act == Activation::gelu) return gelu_activation_derivative(pre);
  return 1.0f;
}

TEST(CpuActivationBf16, StoresTheProductRoundedOnceAndSumsTheStoredValues) {
  Rng rng(11);
  const int64_t m = 37, k = 13;
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    const Tensor g = random_f32(rng, {m, k}, 3.0);
    const Tensor pre = random_f32(rng, {m, k}, 2.0);
    // A GELU layer with a bf16 output saves bf16 pre-activations; test that aux type too.
    const Tensor aux = act == Activation::gelu ? to_bf16(pre) : pre;
    Tensor dx = Tensor::empty({m, k}, DType::bf16), db = Tensor::empty({k});
    activation_backward_aux_bf16(act, g, aux, dx, &db);
    const std::vector<float> gv = g.to_vector<float>();
    std::vector<float> pv = pre.to_vector<float>();
    if (act == Activation::gelu) {
      for (float& v : pv) v = round_to_bf16(v);
    }
    const std::vector<uint16_t> got = bits_of(dx);
    std::vector<double> sums(static_cast<size_t>(k), 0.0);
    for (int64_t i = 0; i < m * k; ++i) {
      const uint16_t want = float_to_bf16_bits(gv[i] * derivative(act, pv[i]));
      ASSERT_EQ(got[i], want) << activation_name(act) << " element " << i;
      sums[static_cast<size_t>(i % k)] += bf16_bits_to_float(want);
    }
    const std::vector<float> dbv = db.to_vector<float>();
    for (int64_t c = 0; c < k; ++c) EXPECT_EQ(dbv[c], static_cast<float>(sums[c])) << c;
  }
}

TEST(CpuActivationBf16, ReluOnABf16GradientInPlaceEqualsRoundingTheProduct) {
  Rng rng(12);
  const int64_t m = 29, k = 16;
  const Tensor g = random_f32(rng, {m, k}, 5.0), pre = random_f32(rng, {m, k});
  Tensor from_f32 = Tensor::empty({m, k}, DType::bf16), db32 = Tensor::empty({k});
  activation_backward_aux_bf16(Activation::relu, g, pre, from_f32, &db32);
  Tensor in_place = to_bf16(g), db16 = Tensor::empty({k});
  activation_backward_aux_bf16(Activation::relu, in_place, pre, in_place, &db16);
  EXPECT_EQ(bits_of(in_place), bits_of(from_f32));
  EXPECT_EQ(db16.to_vector<float>(), db32.to_vector<float>());
}

TEST(CpuActivationBf16, AfterThePlainGemmItIsTheInputGradientTwinsBf16Dx) {
  Rng rng(13);
  const int64_t m = 33, n = 9, k = 24;
  const Tensor dy = to_bf16(random_f32(rng, {m, n})), w = to_bf16(random_f32(rng, {n, k}));
  const Tensor pre = random_f32(rng, {m, k});
  Tensor dx_twin = Tensor::empty({m, k}, DType::bf16), db_twin = Tensor::empty({k});
  linear_backward_input(dy, w, Activation::relu, pre, dx_twin, &db_twin);
  // The pass route: the plain GEMM stores bf16, the op masks it in place.
  Tensor g = Tensor::empty({m, k}, DType::bf16), db = Tensor::empty({k});
  linear_backward_input(dy, w, Activation::none, Tensor(), g, nullptr);
  activation_backward_aux_bf16(Activation::relu, g, pre, g, &db);
  EXPECT_EQ(bits_of(g), bits_of(dx_twin));
  EXPECT_EQ(db.to_vector<float>(), db_twin.to_vector<float>());
}

TEST(CpuActivationBf16, RefusesABf16GeluGradientAndWrongShapes) {
  const Tensor g16 = Tensor::zeros({4, 8}, DType::bf16), pre = Tensor::zeros({4, 8});
  Tensor dx = Tensor::empty({4, 8}, DType::bf16);
  EXPECT_THROW(activation_backward_aux_bf16(Activation::gelu, g16, pre, dx, nullptr),
               InternalError);
  Tensor dx_wrong = Tensor::empty({4, 7}, DType::bf16);
  EXPECT_THROW(
      activation_backward_aux_bf16(Activation::relu, Tensor::zeros({4, 8}), pre, dx_wrong, nullptr),
      InternalError);
  Tensor dx32 = Tensor::empty({4, 8});
  EXPECT_THROW(
      activation_backward_aux_bf16(Activation::relu, Tensor::zeros({4, 8}), pre, dx32, nullptr),
      InternalError);
}

}  // namespace
}  // namespace kasmina::ops
