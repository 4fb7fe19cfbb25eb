// CPU LayerNorm: a known row by hand, and dx, dgamma, dbeta against central differences.
#include <gtest/gtest.h>

#include <cmath>

#include "op_test_utils.hpp"
#include "ops/backend_ops.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::expect_gradient_matches;
using cpu_test::numeric_gradient;
using cpu_test::random_tensor;
using cpu_test::values;
using cpu_test::weighted_sum;

TEST(CpuLayerNorm, KnownRow) {
  // Row [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 5, 5, 5}, {2, 4});
  const Tensor gamma = Tensor::from_vector<float>({1, 2, 1, 0.5f}, {4});
  const Tensor beta = Tensor::from_vector<float>({0, 0, 1, -1}, {4});
  const float eps = 1e-5f;
  Tensor y = Tensor::empty({2, 4}), mean = Tensor::empty({2}), rstd = Tensor::empty({2});
  cpu::layernorm_forward(x, gamma, beta, eps, y, mean, rstd);
  const double rs = 1.0 / std::sqrt(1.25 + 1e-5);
  const std::vector<double> want = {-1.5 * rs * 1, -0.5 * rs * 2, 0.5 * rs * 1 + 1,
                                    1.5 * rs * 0.5 - 1,
                                    // A constant row normalises to zero: y = beta.
                                    0, 0, 1, -1};
  const std::vector<float> got = y.to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  EXPECT_NEAR(mean.to_vector<float>()[0], 2.5, 1e-7);
  EXPECT_NEAR(mean.to_vector<float>()[1], 5.0, 1e-7);
  EXPECT_NEAR(rstd.to_vector<float>()[0], rs, 1e-6);
  EXPECT_NEAR(rstd.to_vector<float>()[1], 1.0 / std::sqrt(1e-5), 1e-2);
}

TEST(CpuLayerNorm, GradientsMatchFiniteDifferences) {
  const int64_t m = 4, n = 6;
  const float eps = 1e-5f;
  Rng rng(500);
  Tensor x = random_tensor(rng, {m, n}, DType::f64, -2.0, 2.0);
  Tensor gamma = random_tensor(rng, {n}, DType::f64, 0.5, 1.5);
  Tensor beta = random_tensor(rng, {n}, DType::f64);
  const Tensor r = random_tensor(rng, {m, n}, DType::f64);
  Tensor y = Tensor::empty({m, n}, DType::f64);
  Tensor mean = Tensor::empty({m}, DType::f64), rstd = Tensor::empty({m}, DType::f64);
  const auto loss = [&] {
    cpu::layernorm_forward(x, gamma, beta, eps, y, mean, rstd);
    return weighted_sum(y, r);
  };
  loss();
  Tensor dx = Tensor::empty({m, n}, DType::f64);
  Tensor dgamma = Tensor::empty({n}, DType::f64), dbeta = Tensor::empty({n}, DType::f64);
  cpu::layernorm_backward(r, x, gamma, mean, rstd, dx, dgamma, dbeta);
  expect_gradient_matches(values(dx), numeric_gradient(x, loss), "dx");
  expect_gradient_matches(values(dgamma), numeric_gradient(gamma, loss), "dgamma");
  expect_gradient_matches(values(dbeta), numeric_gradient(beta, loss), "dbeta");
}

TEST(CpuLayerNorm, Float32BackwardAgreesWithFloat64) {
  const int64_t m = 8, n = 33;
  Rng rng(501);
  const auto as_f32 = [](const Tensor& t) {
    const std::vector<double> v = t.to_vector<double>();
    return Tensor::from_vector<float>(std::vector<float>(v.begin(), v.end()), t.shape());
  };
  const Tensor x = random_tensor(rng, {m, n}, DType::f64, -2.0, 2.0);
  const Tensor gamma = random_tensor(rng, {n}, DType::f64, 0.5, 1.5);
  const Tensor beta = random_tensor(rng, {n}, DType::f64);
  const Tensor dy = random_tensor(rng, {m, n}, DType::f64);
  std::vector<std::vector<double>> results[2];
  for (const DType dt : {DType::f64, DType::f32}) {
    const bool single = dt == DType::f32;
    const Tensor xs = single ? as_f32(x) : x, gs = single ? as_f32(gamma) : gamma;
    const Tensor bs = single ? as_f32(beta) : beta, dys = single ? as_f32(dy) : dy;
    Tensor y = Tensor::empty({m, n}, dt), mean = Tensor::empty({m}, dt),
           rstd = Tensor::empty({m}, dt);
    cpu::layernorm_forward(xs, gs, bs, 1e-5f, y, mean, rstd);
    Tensor dx = Tensor::empty({m, n}, dt), dg = Tensor::empty({n}, dt), db = Tensor::empty({n}, dt);
    cpu::layernorm_backward(dys, xs, gs, mean, rstd, dx, dg, db);
    results[single ? 1 : 0] = {values(y), values(dx), values(dg), values(db)};
  }
  for (size_t t = 0; t < results[0].size(); ++t) {
    for (size_t i = 0; i < results[0][t].size(); ++i) {
      EXPECT_NEAR(results[1][t][i], results[0][t][i], 2e-5 * (1 + std::abs(results[0][t][i])))
          << "output " << t << " element " << i;
    }
  }
}

}  // namespace
}  // namespace kasmina::ops
