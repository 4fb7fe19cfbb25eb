// CPU batchnorm twins: training statistics and the running-statistic update against a hand
// computation (PyTorch semantics: biased variance to normalise, unbiased variance into the running
// estimate), the evaluation path, the fused ReLU, and gradients against central differences.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "op_test_utils.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops {
namespace {

TEST(CpuBatchNorm, TrainingStatisticsAndRunningUpdateByHand) {
  // Channel 0: 1, 2, 3, 6 (mean 3, squared deviations 14: biased var 3.5, unbiased 14/3).
  // Channel 1: constant 5 (var 0: normalises to beta).
  const Tensor x = Tensor::from_vector<double>({1, 5, 2, 5, 3, 5, 6, 5}, {4, 2});
  const Tensor gamma = Tensor::from_vector<double>({2, 3}, {2});
  const Tensor beta = Tensor::from_vector<double>({1, -1}, {2});
  Tensor rm = Tensor::from_vector<double>({0.5, 0.5}, {2});
  Tensor rv = Tensor::from_vector<double>({2, 2}, {2});
  Tensor y = Tensor::empty({4, 2}, DType::f64), mean = Tensor::empty({2}, DType::f64),
         rstd = Tensor::empty({2}, DType::f64);
  const BatchNormParams p{.eps = 1e-5f, .momentum = 0.1f};
  batchnorm_forward_train(x, gamma, beta, p, rm, rv, y, mean, rstd);
  const double eps = static_cast<double>(1e-5f), mom = static_cast<double>(0.1f);
  const double rs0 = 1.0 / std::sqrt(3.5 + eps), rs1 = 1.0 / std::sqrt(eps);
  EXPECT_NEAR(mean.to_vector<double>()[0], 3.0, 1e-15);
  EXPECT_NEAR(mean.to_vector<double>()[1], 5.0, 1e-15);
  EXPECT_NEAR(rstd.to_vector<double>()[0], rs0, 1e-12);
  EXPECT_NEAR(rstd.to_vector<double>()[1], rs1, 1e-9);
  EXPECT_NEAR(rm.to_vector<double>()[0], (1 - mom) * 0.5 + mom * 3.0, 1e-15);
  EXPECT_NEAR(rm.to_vector<double>()[1], (1 - mom) * 0.5 + mom * 5.0, 1e-15);
  EXPECT_NEAR(rv.to_vector<double>()[0], (1 - mom) * 2.0 + mom * 14.0 / 3.0, 1e-15);
  EXPECT_NEAR(rv.to_vector<double>()[1], (1 - mom) * 2.0, 1e-15);
  const std::vector<double> want = {-2 * rs0 * 2 + 1, -1, -1 * rs0 * 2 + 1, -1, 1, -1,
                                    3 * rs0 * 2 + 1,  -1};
  const std::vector<double> got = y.to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;

  // Fused ReLU clamps the negative outputs and keeps the rest.
  Tensor yr = Tensor::empty({4, 2}, DType::f64);
  BatchNormParams pr = p;
  pr.relu = true;
  batchnorm_forward_train(x, gamma, beta, pr, rm, rv, yr, mean, rstd);
  const std::vector<double> gr = yr.to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(gr[i], std::max(want[i], 0.0), 1e-12) << i;
}

TEST(CpuBatchNorm, EvalUsesRunningStatistics) {
  const Tensor x = Tensor::from_vector<float>({1, -2, 4, 0}, {2, 2});
  const Tensor gamma = Tensor::from_vector<float>({2, 1}, {2});
  const Tensor beta = Tensor::from_vector<float>({0, 1}, {2});
  const Tensor rm = Tensor::from_vector<float>({1, -1}, {2});
  const Tensor rv = Tensor::from_vector<float>({4, 0.25f}, {2});
  Tensor y = Tensor::empty({2, 2});
  batchnorm_forward_eval(x, gamma, beta, {.eps = 0.0f}, rm, rv, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, -1, 3, 3}));
  batchnorm_forward_eval(x, gamma, beta, {.eps = 0.0f, .relu = true}, rm, rv, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0, 3, 3}));
}

TEST(CpuBatchNorm, GradientsMatchFiniteDifferences) {
  for (bool relu : {false, true}) {
    Rng rng(relu ? 91 : 90);
    const int64_t r = 6, c = 3;
    Tensor x = cpu_test::random_tensor(rng, {r, c}, DType::f64, -2.0, 2.0);
    Tensor gamma = cpu_test::random_tensor(rng, {c}, DType::f64, 0.5, 1.5);
    Tensor beta = cpu_test::random_tensor(rng, {c}, DType::f64, -0.3, 0.3);
    const Tensor w = cpu_test::random_tensor(rng, {r, c}, DType::f64);
    Tensor rm = Tensor::zeros({c}, DType::f64), rv = Tensor::zeros({c}, DType::f64);
    Tensor y = Tensor::empty({r, c}, DType::f64), mean = Tensor::empty({c}, DType::f64),
           rstd = Tensor::empty({c}, DType::f64);
    const BatchNormParams p{.relu = relu};
    const auto loss = [&] {
      batchnorm_forward_train(x, gamma, beta, p, rm, rv, y, mean, rstd);
      return cpu_test::weighted_sum(y, w);
    };
    loss();
    Tensor dx = Tensor::empty({r, c}, DType::f64), dg = Tensor::empty({c}, DType::f64),
           db = Tensor::empty({c}, DType::f64);
    batchnorm_backward(w, x, y, gamma, mean, rstd, p, dx, dg, db);
    cpu_test::expect_gradient_matches(cpu_test::values(dx), cpu_test::numeric_gradient(x, loss),
                                      "dx", 1e-5);
    cpu_test::expect_gradient_matches(cpu_test::values(dg), cpu_test::numeric_gradient(gamma, loss),
                                      "dgamma");
    cpu_test::expect_gradient_matches(cpu_test::values(db), cpu_test::numeric_gradient(beta, loss),
                                      "dbeta");
  }
}

TEST(CpuBatchNorm, OneRowCannotTrain) {
  const Tensor x = Tensor::zeros({1, 2});
  Tensor v = Tensor::zeros({2}), y = Tensor::empty({1, 2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::zeros({2}), m = Tensor::zeros({2}),
         s = Tensor::zeros({2});
  EXPECT_THROW(batchnorm_forward_train(x, v, v, {}, rm, rv, y, m, s), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
