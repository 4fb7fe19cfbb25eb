// CPU softmax cross-entropy: a known row, the gradient against central differences of the
// summed loss, accumulation across calls, and first-max accuracy on ties.
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

TEST(CpuSoftmaxXent, KnownRow) {
  // softmax(log 1, log 2, log 3) = (1/6, 2/6, 3/6); a large shift must not change anything.
  const float shift = 1000.0f;
  const Tensor logits = Tensor::from_vector<float>(
      {std::log(1.0f) + shift, std::log(2.0f) + shift, std::log(3.0f) + shift}, {1, 3});
  const Tensor labels = Tensor::from_vector<int32_t>({2}, {1});
  Tensor dlogits = Tensor::empty({1, 3});
  Tensor loss = Tensor::zeros({1}, DType::f64), correct = Tensor::zeros({1}, DType::i64);
  cpu::softmax_xent(logits, labels, 0.5f, &dlogits, loss, &correct);
  // The logits are rounded to float near 1000, so compare with float-level tolerance.
  EXPECT_NEAR(loss.to_vector<double>()[0], std::log(2.0), 1e-4);
  EXPECT_EQ(correct.to_vector<int64_t>()[0], 1);
  const std::vector<float> d = dlogits.to_vector<float>();
  EXPECT_NEAR(d[0], 0.5 * (1.0 / 6), 2e-5);
  EXPECT_NEAR(d[1], 0.5 * (2.0 / 6), 2e-5);
  EXPECT_NEAR(d[2], 0.5 * (3.0 / 6 - 1), 2e-5);

  // Exact logits in float64.
  const Tensor logits64 =
      Tensor::from_vector<double>({std::log(1.0), std::log(2.0), std::log(3.0)}, {1, 3});
  Tensor loss64 = Tensor::zeros({1}, DType::f64);
  Tensor d64 = Tensor::empty({1, 3}, DType::f64);
  cpu::softmax_xent(logits64, Tensor::from_vector<int32_t>({0}, {1}), 1.0f, &d64, loss64, nullptr);
  EXPECT_NEAR(loss64.to_vector<double>()[0], std::log(6.0), 1e-14);
  const std::vector<double> g = d64.to_vector<double>();
  EXPECT_NEAR(g[0], 1.0 / 6 - 1, 1e-15);
  EXPECT_NEAR(g[1], 2.0 / 6, 1e-15);
  EXPECT_NEAR(g[2], 3.0 / 6, 1e-15);
}

TEST(CpuSoftmaxXent, GradientMatchesFiniteDifferencesOfSummedLoss) {
  const int64_t rows = 5, classes = 7;
  const float grad_scale = 0.25f;
  Rng rng(700);
  Tensor logits = random_tensor(rng, {rows, classes}, DType::f64, -3.0, 3.0);
  std::vector<int32_t> label_values;
  for (int64_t b = 0; b < rows; ++b)
    label_values.push_back(static_cast<int32_t>(rng.below(classes)));
  const Tensor labels = Tensor::from_vector<int32_t>(label_values, {rows});
  const auto scaled_loss = [&] {
    Tensor loss = Tensor::zeros({1}, DType::f64);
    cpu::softmax_xent(logits, labels, grad_scale, nullptr, loss, nullptr);
    return loss.to_vector<double>()[0] * grad_scale;
  };
  Tensor dlogits = Tensor::empty({rows, classes}, DType::f64);
  Tensor loss = Tensor::zeros({1}, DType::f64);
  cpu::softmax_xent(logits, labels, grad_scale, &dlogits, loss, nullptr);
  expect_gradient_matches(values(dlogits), numeric_gradient(logits, scaled_loss), "dlogits");
}

TEST(CpuSoftmaxXent, AccumulatesAcrossCalls) {
  Rng rng(701);
  const Tensor logits = random_tensor(rng, {6, 4}, DType::f32, -2.0, 2.0);
  const Tensor labels = Tensor::from_vector<int32_t>({0, 1, 2, 3, 0, 1}, {6});
  Tensor loss = Tensor::zeros({1}, DType::f64), correct = Tensor::zeros({1}, DType::i64);
  cpu::softmax_xent(logits, labels, 1.0f, nullptr, loss, &correct);
  const double once = loss.to_vector<double>()[0];
  const int64_t hits = correct.to_vector<int64_t>()[0];
  EXPECT_GT(once, 0.0);
  cpu::softmax_xent(logits, labels, 1.0f, nullptr, loss, &correct);
  EXPECT_DOUBLE_EQ(loss.to_vector<double>()[0], 2 * once);
  EXPECT_EQ(correct.to_vector<int64_t>()[0], 2 * hits);

  // The reference loss of the batch, computed independently.
  const std::vector<float> z = logits.to_vector<float>();
  double want = 0.0;
  for (int b = 0; b < 6; ++b) {
    double denom = 0.0;
    for (int c = 0; c < 4; ++c) denom += std::exp(static_cast<double>(z[b * 4 + c]));
    want += std::log(denom) - z[b * 4 + (b % 4)];
  }
  EXPECT_NEAR(once, want, 1e-12);
}

TEST(CpuSoftmaxXent, GradientMayOverwriteTheLogits) {
  Rng rng(702);
  const Tensor logits = random_tensor(rng, {3, 5}, DType::f32, -2.0, 2.0);
  const Tensor labels = Tensor::from_vector<int32_t>({4, 0, 2}, {3});
  Tensor d = Tensor::empty({3, 5});
  Tensor loss = Tensor::zeros({1}, DType::f64), correct = Tensor::zeros({1}, DType::i64);
  cpu::softmax_xent(logits, labels, 0.5f, &d, loss, &correct);
  Tensor in_place = logits.to(Device::cpu());
  Tensor loss2 = Tensor::zeros({1}, DType::f64), correct2 = Tensor::zeros({1}, DType::i64);
  cpu::softmax_xent(in_place, labels, 0.5f, &in_place, loss2, &correct2);
  EXPECT_EQ(in_place.to_vector<float>(), d.to_vector<float>());
  EXPECT_EQ(loss2.to_vector<double>(), loss.to_vector<double>());
  EXPECT_EQ(correct2.to_vector<int64_t>(), correct.to_vector<int64_t>());
}

TEST(CpuSoftmaxXent, CorrectCountsFirstMaxOnTies) {
  // Rows with ties: the first maximal class is the prediction.
  const Tensor logits = Tensor::from_vector<float>({1, 3, 3,    //
                                                    1, 3, 3,    //
                                                    2, 2, 2,    //
                                                    0, -1, 5},  //
                                                   {4, 3});
  const Tensor labels = Tensor::from_vector<int32_t>({1, 2, 0, 2}, {4});
  Tensor loss = Tensor::zeros({1}, DType::f64), correct = Tensor::from_vector<int64_t>({10}, {1});
  cpu::softmax_xent(logits, labels, 1.0f, nullptr, loss, &correct);
  EXPECT_EQ(correct.to_vector<int64_t>()[0], 10 + 3);  // rows 0, 2 and 3
}

TEST(CpuSoftmaxXent, RejectsLabelsOutOfRange) {
  const Tensor logits = Tensor::zeros({2, 3});
  Tensor loss = Tensor::zeros({1}, DType::f64);
  EXPECT_THROW(cpu::softmax_xent(logits, Tensor::from_vector<int32_t>({0, 3}, {2}), 1.0f, nullptr,
                                 loss, nullptr),
               InternalError);
  EXPECT_THROW(cpu::softmax_xent(logits, Tensor::from_vector<int32_t>({-1, 0}, {2}), 1.0f, nullptr,
                                 loss, nullptr),
               InternalError);
  EXPECT_EQ(loss.to_vector<double>()[0], 0.0);
}

}  // namespace
}  // namespace kasmina::ops
