// CPU standalone activations: GELU values against the tanh formula and known points, and the
// backward of every activation against central differences in float64.
#include <gtest/gtest.h>

#include <cmath>

#include "op_test_utils.hpp"
#include "ops/backend_ops.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::expect_gradient_matches;
using cpu_test::numeric_gradient;
using cpu_test::random_away_from_zero;
using cpu_test::values;
using cpu_test::weighted_sum;

double gelu_reference(double x) {
  const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + std::tanh(u));
}

TEST(CpuActivation, GeluMatchesTanhFormula) {
  const std::vector<double> xs = {-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0};
  // Values of 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) at xs, evaluated independently.
  const std::vector<double> known = {
      -0.0036373920817729943, -0.15880800939172324, -0.15428599017485606, 0.0,
      0.34571400982514394,    0.8411919906082768,   1.954597694087775,    2.996362607918227};
  Tensor x64 = Tensor::from_vector<double>(xs, {8});
  Tensor y64 = Tensor::empty({8}, DType::f64);
  cpu::activation_forward(Activation::gelu, x64, y64);
  Tensor x32 = Tensor::from_vector<float>(std::vector<float>(xs.begin(), xs.end()), {8});
  Tensor y32 = Tensor::empty({8});
  cpu::activation_forward(Activation::gelu, x32, y32);
  const std::vector<double> got64 = values(y64), got32 = values(y32);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_NEAR(got64[i], known[i], 1e-14) << xs[i];
    EXPECT_NEAR(got64[i], gelu_reference(xs[i]), 1e-14) << xs[i];
    EXPECT_NEAR(got32[i], known[i], 1e-6) << xs[i];
  }
}

TEST(CpuActivation, ReluAndNoneForward) {
  const Tensor x = Tensor::from_vector<float>({-2.0f, -0.0f, 0.0f, 0.25f, 7.0f}, {5});
  Tensor y = Tensor::empty({5});
  cpu::activation_forward(Activation::relu, x, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0.0f, 0.0f, 0.0f, 0.25f, 7.0f}));
  cpu::activation_forward(Activation::none, x, y);
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
}

class CpuActivationGradient : public ::testing::TestWithParam<Activation> {};

TEST_P(CpuActivationGradient, StandaloneBackwardMatchesFiniteDifferences) {
  const Activation act = GetParam();
  Rng rng(300 + static_cast<uint64_t>(act));
  // Inputs at least 1e-3 away from the ReLU kink.
  Tensor x = random_away_from_zero(rng, {6, 7}, -3.0, 3.0, 1e-3);
  const Tensor r = cpu_test::random_tensor(rng, {6, 7}, DType::f64);
  Tensor y = Tensor::empty({6, 7}, DType::f64);
  const auto loss = [&] {
    cpu::activation_forward(act, x, y);
    return weighted_sum(y, r);
  };
  Tensor dx = Tensor::empty({6, 7}, DType::f64);
  cpu::activation_backward(act, r, x, dx);
  expect_gradient_matches(values(dx), numeric_gradient(x, loss), "dx");
}

TEST_P(CpuActivationGradient, AuxBackwardMatchesFiniteDifferences) {
  const Activation act = GetParam();
  Rng rng(400 + static_cast<uint64_t>(act));
  Tensor pre = random_away_from_zero(rng, {5, 4}, -3.0, 3.0, 1e-3);
  const Tensor r = cpu_test::random_tensor(rng, {5, 4}, DType::f64);
  Tensor y = Tensor::empty({5, 4}, DType::f64);
  const auto loss = [&] {
    cpu::activation_forward(act, pre, y);
    return weighted_sum(y, r);
  };
  // On the CPU the aux state of a fused layer is its pre-activation.
  Tensor dpre = Tensor::empty({5, 4}, DType::f64);
  const Tensor aux = act == Activation::none ? Tensor() : pre;
  cpu::activation_backward_aux(act, r, aux, dpre);
  expect_gradient_matches(values(dpre), numeric_gradient(pre, loss), "dpre");
}

INSTANTIATE_TEST_SUITE_P(Activations, CpuActivationGradient,
                         ::testing::Values(Activation::none, Activation::relu, Activation::gelu),
                         [](const auto& info) { return std::string(activation_name(info.param)); });

TEST(CpuActivation, RejectsIntegerTensors) {
  const Tensor x = Tensor::zeros({3}, DType::i32);
  Tensor y = Tensor::zeros({3}, DType::i32);
  EXPECT_THROW(cpu::activation_forward(Activation::relu, x, y), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
