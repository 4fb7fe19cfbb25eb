// CPU linear ops: hand-computed forward values and gradients against central differences in
// float64, for each activation, alone and fused with an earlier layer's activation backward.
#include <gtest/gtest.h>

#include <ostream>

#include "op_test_utils.hpp"
#include "ops/backend_ops.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::expect_gradient_matches;
using cpu_test::numeric_gradient;
using cpu_test::random_tensor;
using cpu_test::values;
using cpu_test::weighted_sum;

TEST(CpuLinear, ForwardMatchesHandComputed2x3) {
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, -1, 0, 2}, {2, 3});
  const Tensor w = Tensor::from_vector<float>({1, 0, -1, 0.5f, 1, 2}, {2, 3});
  const Tensor b = Tensor::from_vector<float>({0.1f, -0.2f}, {2});
  // Pre-activations: row 0: [1 - 3 + 0.1, 0.5 + 2 + 6 - 0.2]; row 1: [-1 - 2 + 0.1, -0.5 + 4 -
  // 0.2].
  const std::vector<float> pre = {-1.9f, 8.3f, -2.9f, 3.3f};

  Tensor y = Tensor::empty({2, 2});
  Tensor none_aux = cpu::make_linear_aux(2, 2, Activation::none, Device::cpu(), DType::f32);
  EXPECT_FALSE(none_aux.defined());
  cpu::linear_forward(x, w, b, Activation::none, y, none_aux);
  const std::vector<float> got = y.to_vector<float>();
  for (size_t i = 0; i < pre.size(); ++i) EXPECT_NEAR(got[i], pre[i], 1e-6) << i;

  Tensor aux = cpu::make_linear_aux(2, 2, Activation::relu, Device::cpu(), DType::f32);
  ASSERT_TRUE(aux.defined());
  EXPECT_EQ(aux.shape(), (Shape{2, 2}));
  cpu::linear_forward(x, w, b, Activation::relu, y, aux);
  const std::vector<float> relu = y.to_vector<float>(), saved = aux.to_vector<float>();
  for (size_t i = 0; i < pre.size(); ++i) {
    EXPECT_NEAR(relu[i], pre[i] > 0 ? pre[i] : 0.0f, 1e-6) << i;
    EXPECT_NEAR(saved[i], pre[i], 1e-6) << i;
  }

  // Without a bias (undefined b) the output is the plain product.
  cpu::linear_forward(x, w, Tensor(), Activation::none, y, none_aux);
  const std::vector<float> nobias = y.to_vector<float>();
  const std::vector<float> product = {-2.0f, 8.5f, -3.0f, 3.5f};
  for (size_t i = 0; i < product.size(); ++i) EXPECT_NEAR(nobias[i], product[i], 1e-6) << i;
}

TEST(CpuLinear, RejectsMismatchedShapes) {
  const Tensor x = Tensor::zeros({2, 3});
  const Tensor w = Tensor::zeros({4, 2});
  Tensor y = Tensor::empty({2, 4});
  Tensor aux;
  EXPECT_THROW(cpu::linear_forward(x, w, Tensor(), Activation::none, y, aux), InternalError);
  Tensor dx = Tensor::empty({2, 3});
  Tensor dbias = Tensor::empty({3});
  const Tensor dy = Tensor::zeros({2, 4});
  const Tensor w_ok = Tensor::zeros({4, 3});
  EXPECT_THROW(cpu::linear_backward_input(dy, w_ok, Activation::none, Tensor(), dx, &dbias),
               InternalError);
}

struct LinearCase {
  Activation act;
  const char* name;
  friend std::ostream& operator<<(std::ostream& os, const LinearCase& c) { return os << c.name; }
};

class CpuLinearGradient : public ::testing::TestWithParam<LinearCase> {};

// One layer y = act(x Wᵀ + b), loss Σ r ⊙ y.
TEST_P(CpuLinearGradient, MatchesFiniteDifferences) {
  const Activation act = GetParam().act;
  const int64_t m = 4, k = 5, n = 3;
  Rng rng(1000 + static_cast<uint64_t>(act));
  Tensor x = random_tensor(rng, {m, k}, DType::f64);
  Tensor w = random_tensor(rng, {n, k}, DType::f64);
  Tensor b = random_tensor(rng, {n}, DType::f64);
  const Tensor r = random_tensor(rng, {m, n}, DType::f64);
  Tensor y = Tensor::empty({m, n}, DType::f64);
  Tensor aux = cpu::make_linear_aux(m, n, act, Device::cpu(), DType::f64);
  const auto loss = [&] {
    cpu::linear_forward(x, w, b, act, y, aux);
    return weighted_sum(y, r);
  };
  loss();
  if (act == Activation::relu) {
    // Keep every pre-activation away from the kink so that the differences are smooth.
    for (double pre : values(aux)) ASSERT_GT(std::abs(pre), 1e-3);
  }

  Tensor dpre = Tensor::empty({m, n}, DType::f64);
  cpu::activation_backward_aux(act, r, aux, dpre);
  Tensor dw = Tensor::empty({n, k}, DType::f64), db = Tensor::empty({n}, DType::f64);
  Tensor dx = Tensor::empty({m, k}, DType::f64);
  cpu::linear_backward_weight(dpre, x, dw, &db);
  cpu::linear_backward_input(dpre, w, Activation::none, Tensor(), dx, nullptr);

  expect_gradient_matches(values(dw), numeric_gradient(w, loss), "dW");
  expect_gradient_matches(values(db), numeric_gradient(b, loss), "db");
  expect_gradient_matches(values(dx), numeric_gradient(x, loss), "dx");

  // Without db the weight gradient is the same.
  Tensor dw_only = Tensor::empty({n, k}, DType::f64);
  cpu::linear_backward_weight(dpre, x, dw_only, nullptr);
  EXPECT_EQ(values(dw_only), values(dw));
}

class CpuFusedLinearGradient : public ::testing::TestWithParam<LinearCase> {};

// Two layers h = act1(x W1ᵀ + b1), y = gelu(h W2ᵀ + b2), loss Σ r ⊙ y. The second layer's input
// backward fuses the first layer's activation backward and its bias gradient.
TEST_P(CpuFusedLinearGradient, TwoLayersMatchFiniteDifferences) {
  const Activation act1 = GetParam().act;
  const int64_t m = 3, k = 4, hidden = 5, n = 2;
  Rng rng(2000 + static_cast<uint64_t>(act1));
  Tensor x = random_tensor(rng, {m, k}, DType::f64);
  Tensor w1 = random_tensor(rng, {hidden, k}, DType::f64);
  Tensor b1 = random_tensor(rng, {hidden}, DType::f64);
  Tensor w2 = random_tensor(rng, {n, hidden}, DType::f64);
  Tensor b2 = random_tensor(rng, {n}, DType::f64);
  const Tensor r = random_tensor(rng, {m, n}, DType::f64);
  Tensor h = Tensor::empty({m, hidden}, DType::f64), y = Tensor::empty({m, n}, DType::f64);
  Tensor aux1 = cpu::make_linear_aux(m, hidden, act1, Device::cpu(), DType::f64);
  Tensor aux2 = cpu::make_linear_aux(m, n, Activation::gelu, Device::cpu(), DType::f64);
  const auto loss = [&] {
    cpu::linear_forward(x, w1, b1, act1, h, aux1);
    cpu::linear_forward(h, w2, b2, Activation::gelu, y, aux2);
    return weighted_sum(y, r);
  };
  loss();
  if (act1 == Activation::relu) {
    for (double pre : values(aux1)) ASSERT_GT(std::abs(pre), 1e-3);
  }

  Tensor dpre2 = Tensor::empty({m, n}, DType::f64);
  cpu::activation_backward_aux(Activation::gelu, r, aux2, dpre2);
  Tensor dw2 = Tensor::empty({n, hidden}, DType::f64), db2 = Tensor::empty({n}, DType::f64);
  cpu::linear_backward_weight(dpre2, h, dw2, &db2);
  Tensor dpre1 = Tensor::empty({m, hidden}, DType::f64);
  Tensor db1 = Tensor::empty({hidden}, DType::f64);
  cpu::linear_backward_input(dpre2, w2, act1, aux1, dpre1, &db1);
  Tensor dw1 = Tensor::empty({hidden, k}, DType::f64);
  cpu::linear_backward_weight(dpre1, x, dw1, nullptr);
  Tensor dx = Tensor::empty({m, k}, DType::f64);
  cpu::linear_backward_input(dpre1, w1, Activation::none, Tensor(), dx, nullptr);

  expect_gradient_matches(values(dw2), numeric_gradient(w2, loss), "dW2");
  expect_gradient_matches(values(db2), numeric_gradient(b2, loss), "db2");
  expect_gradient_matches(values(db1), numeric_gradient(b1, loss), "db1 (fused in_dbias)");
  expect_gradient_matches(values(dw1), numeric_gradient(w1, loss), "dW1");
  expect_gradient_matches(values(dx), numeric_gradient(x, loss), "dx");

  // Without in_dbias the fused input gradient is unchanged (rerun the forward first: the
  // finite differences left the saved state of a perturbed input behind).
  loss();
  Tensor dpre1_plain = Tensor::empty({m, hidden}, DType::f64);
  cpu::linear_backward_input(dpre2, w2, act1, aux1, dpre1_plain, nullptr);
  EXPECT_EQ(values(dpre1_plain), values(dpre1));
}

INSTANTIATE_TEST_SUITE_P(Activations, CpuLinearGradient,
                         ::testing::Values(LinearCase{Activation::none, "none"},
                                           LinearCase{Activation::relu, "relu"},
                                           LinearCase{Activation::gelu, "gelu"}),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(InputActivations, CpuFusedLinearGradient,
                         ::testing::Values(LinearCase{Activation::relu, "relu"},
                                           LinearCase{Activation::gelu, "gelu"}),
                         [](const auto& info) { return std::string(info.param.name); });

// float32 and float64 paths agree on random inputs (the GEMM and epilogue are the same code).
TEST(CpuLinear, Float32AgreesWithFloat64) {
  const int64_t m = 17, k = 33, n = 9;
  Rng rng(77);
  const Tensor x = random_tensor(rng, {m, k}, DType::f64),
               w = random_tensor(rng, {n, k}, DType::f64);
  const Tensor b = random_tensor(rng, {n}, DType::f64);
  const auto to_f32 = [](const Tensor& t) {
    const std::vector<double> v = t.to_vector<double>();
    return Tensor::from_vector<float>(std::vector<float>(v.begin(), v.end()), t.shape());
  };
  Tensor y64 = Tensor::empty({m, n}, DType::f64), y32 = Tensor::empty({m, n});
  Tensor aux64 = cpu::make_linear_aux(m, n, Activation::gelu, Device::cpu(), DType::f64);
  Tensor aux32 = cpu::make_linear_aux(m, n, Activation::gelu, Device::cpu(), DType::f32);
  cpu::linear_forward(x, w, b, Activation::gelu, y64, aux64);
  cpu::linear_forward(to_f32(x), to_f32(w), to_f32(b), Activation::gelu, y32, aux32);
  const std::vector<double> a = values(y64), c = values(y32);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(c[i], a[i], 1e-5 * (1 + std::abs(a[i]))) << i;
}

}  // namespace
}  // namespace kasmina::ops
