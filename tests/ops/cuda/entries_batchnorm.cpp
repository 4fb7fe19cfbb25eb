// Op table entry of batch normalisation (training forward, evaluation forward, backward; with
// and without the fused ReLU): CUDA against the CPU twins, float64 finite-difference gradients,
// and perf cases at the ResNet's shapes (batch 128).
//
// Tolerances: the CUDA statistics are float32 column reductions over R rows in fixed chunks
// (kernels/column_reduce.cuh), the CPU's are double sums rounded once; R <= 100352 keeps the
// float32 relative error of the sums near eps32 * sqrt(log R), so kTolF32Reduce = 1e-4 bounds
// the statistics and everything computed from them (y, dx, dgamma, dbeta). The backward runs
// from the CPU's saved statistics and (with ReLU) the CPU's y, so its mask is the same on both.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "ops/conv_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

struct BnCase {
  int64_t rows, cols;
  bool relu;
};

std::string bn_name(const BnCase& c) {
  return op_table::dims({{"R", c.rows}, {"C", c.cols}}) + (c.relu ? "_relu" : "");
}

void batchnorm_case(const BnCase& c) {
  const uint64_t s = static_cast<uint64_t>(c.rows * 37 + c.cols * 3 + c.relu);
  const Shape rc{c.rows, c.cols}, ch{c.cols};
  // A non-zero mean: the two-pass variance matters.
  const Tensor x = random_f32(rc, s + 1, -1.0f, 3.0f), dy = random_f32(rc, s + 2);
  const Tensor gamma = random_f32(ch, s + 3, 0.5f, 1.5f), beta = random_f32(ch, s + 4);
  const Tensor rm0 = random_f32(ch, s + 5), rv0 = random_f32(ch, s + 6, 0.5f, 2.0f);
  const ops::BatchNormParams p{.eps = 1e-5f, .momentum = 0.1f, .relu = c.relu};
  const std::string what = "batchnorm " + bn_name(c);

  Tensor rm_cpu = rm0.to(Device::cpu()), rv_cpu = rv0.to(Device::cpu());
  Tensor y_cpu = Tensor::empty(rc), mean_cpu = Tensor::empty(ch), rstd_cpu = Tensor::empty(ch);
  ops::batchnorm_forward_train(x, gamma, beta, p, rm_cpu, rv_cpu, y_cpu, mean_cpu, rstd_cpu);
  Tensor rm_gpu = on_gpu(rm0), rv_gpu = on_gpu(rv0);
  Tensor y_gpu = poisoned(rc, DType::f32), mean_gpu = poisoned(ch, DType::f32),
         rstd_gpu = poisoned(ch, DType::f32);
  const Tensor xg = on_gpu(x), gg = on_gpu(gamma), bg = on_gpu(beta);
  ops::batchnorm_forward_train(xg, gg, bg, p, rm_gpu, rv_gpu, y_gpu, mean_gpu, rstd_gpu);
  EXPECT_TRUE(close(what + " y", y_gpu, y_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " save_mean", mean_gpu, mean_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " save_rstd", rstd_gpu, rstd_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " running_mean", rm_gpu, rm_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " running_var", rv_gpu, rv_cpu, kTolF32Reduce));

  // Evaluation with the (updated) running statistics of the CPU.
  Tensor ye_cpu = Tensor::empty(rc), ye_gpu = poisoned(rc, DType::f32);
  ops::batchnorm_forward_eval(x, gamma, beta, p, rm_cpu, rv_cpu, ye_cpu);
  ops::batchnorm_forward_eval(xg, gg, bg, p, on_gpu(rm_cpu), on_gpu(rv_cpu), ye_gpu);
  EXPECT_TRUE(close(what + " eval y", ye_gpu, ye_cpu, kTolF32));

  Tensor dx_cpu = Tensor::empty(rc), dg_cpu = Tensor::empty(ch), db_cpu = Tensor::empty(ch);
  ops::batchnorm_backward(dy, x, y_cpu, gamma, mean_cpu, rstd_cpu, p, dx_cpu, dg_cpu, db_cpu);
  Tensor dx_gpu = poisoned(rc, DType::f32), dg_gpu = poisoned(ch, DType::f32),
         db_gpu = poisoned(ch, DType::f32);
  ops::batchnorm_backward(on_gpu(dy), xg, on_gpu(y_cpu), gg, on_gpu(mean_cpu), on_gpu(rstd_cpu), p,
                          dx_gpu, dg_gpu, db_gpu);
  if (c.rows == 2) {
    // With two rows x̂ = ±d/sqrt(d² + eps) and dx = γ·rstd·(g − mean(g) − x̂·mean(g·x̂)) is
    // γ·rstd·(g1 − g2)/2 · eps/(d² + eps): nearly all of it cancels, so the twins agree to the
    // rounding of terms of size |γ·rstd·g|, not to a fraction of the tiny result.
    const std::vector<float> g = dy.to_vector<float>(), gm = gamma.to_vector<float>(),
                             rs = rstd_cpu.to_vector<float>();
    double scale = 0.0;
    for (int64_t i = 0; i < c.rows * c.cols; ++i)
      scale = std::max(scale, std::fabs(double{g[i]} * gm[i % c.cols] * rs[i % c.cols]));
    const std::vector<float> a = dx_gpu.to(Device::cpu()).to_vector<float>(),
                             b = dx_cpu.to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_LE(std::fabs(double{a[i]} - b[i]), 1e-5 * scale) << what << " dx[" << i << "]";
  } else {
    EXPECT_TRUE(close(what + " dx", dx_gpu, dx_cpu, kTolF32Reduce));
  }
  EXPECT_TRUE(close(what + " dgamma", dg_gpu, dg_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " dbeta", db_gpu, db_cpu, kTolF32Reduce));
}

std::vector<BnCase> bn_cases() {
  std::vector<BnCase> out;
  for (const auto& [r, c] : std::vector<std::pair<int64_t, int64_t>>{
           {2, 1}, {7, 3}, {1000, 5}, {4099, 7}, {25088, 32}, {100352, 32}, {6272, 128}}) {
    for (bool relu : {false, true}) out.push_back({r, c, relu});
  }
  return out;
}

// ---- gradients (float64, CPU) ----

using namespace op_table;  // NOLINT: the gradient helpers

void batchnorm_gradient(const BnCase& c) {
  Rng rng(1300 + static_cast<uint64_t>(c.rows * 7 + c.cols + c.relu));
  Tensor x = random_f64(rng, {c.rows, c.cols}, -1.0, 3.0);
  Tensor gamma = random_f64(rng, {c.cols}, 0.5, 1.5), beta = random_f64(rng, {c.cols}, -0.3, 0.3);
  const Tensor r = random_f64(rng, {c.rows, c.cols});
  Tensor rm = Tensor::zeros({c.cols}, DType::f64), rv = Tensor::zeros({c.cols}, DType::f64);
  Tensor y = Tensor::empty({c.rows, c.cols}, DType::f64);
  Tensor mean = Tensor::empty({c.cols}, DType::f64), rstd = Tensor::empty({c.cols}, DType::f64);
  const ops::BatchNormParams p{.relu = c.relu};
  const auto loss = [&] {
    ops::batchnorm_forward_train(x, gamma, beta, p, rm, rv, y, mean, rstd);
    return weighted_sum(y, r);
  };
  loss();
  Tensor dx = Tensor::empty({c.rows, c.cols}, DType::f64);
  Tensor dg = Tensor::empty({c.cols}, DType::f64), db = Tensor::empty({c.cols}, DType::f64);
  ops::batchnorm_backward(r, x, y, gamma, mean, rstd, p, dx, dg, db);
  double largest = expect_gradient(values(dx), numeric_gradient(x, loss), "dx", 1e-5);
  largest = std::max(largest, expect_gradient(values(dg), numeric_gradient(gamma, loss), "dgamma"));
  largest = std::max(largest, expect_gradient(values(db), numeric_gradient(beta, loss), "dbeta"));
  EXPECT_GT(largest, 1e-2);
}

std::vector<op_table::OpCase> bn_gradient_cases() {
  return op_table::cases_over(
      std::vector<BnCase>{
          {2, 1, false}, {5, 3, false}, {9, 4, true}, {16, 5, false}, {12, 7, true}},
      &bn_name, &batchnorm_gradient);
}

std::vector<op_table::OpCase> bn_perf_cases() {
  std::vector<op_table::OpCase> out;
  for (const BnCase& c : std::vector<BnCase>{
           {128 * 28 * 28, 32, true}, {128 * 14 * 14, 64, true}, {128 * 7 * 7, 128, true}}) {
    out.push_back(
        {bn_name(c), [c] {
           const Device dev = op_table::perf_device();
           const Shape rc{c.rows, c.cols}, ch{c.cols};
           const Tensor x = random_f32(rc, 1).to(dev), g = random_f32(ch, 2).to(dev),
                        b = random_f32(ch, 3).to(dev);
           Tensor rm = Tensor::zeros(ch, DType::f32, dev), rv = Tensor::zeros(ch, DType::f32, dev);
           Tensor y = Tensor::empty(rc, DType::f32, dev), dx = Tensor::empty(rc, DType::f32, dev);
           Tensor m = Tensor::empty(ch, DType::f32, dev), s = Tensor::empty(ch, DType::f32, dev);
           Tensor dg = Tensor::empty(ch, DType::f32, dev), db = Tensor::empty(ch, DType::f32, dev);
           const ops::BatchNormParams p{.relu = c.relu};
           const std::string shape = str_cat(" ", bn_name(c));
           op_table::time_op("batchnorm_forward_train" + shape, dev,
                             [&] { ops::batchnorm_forward_train(x, g, b, p, rm, rv, y, m, s); });
           op_table::time_op("batchnorm_forward_eval" + shape, dev,
                             [&] { ops::batchnorm_forward_eval(x, g, b, p, rm, rv, y); });
           op_table::time_op("batchnorm_backward" + shape, dev,
                             [&] { ops::batchnorm_backward(x, x, y, g, m, s, p, dx, dg, db); });
         }});
  }
  return out;
}

}  // namespace

// The entry (registered with the op table driver from this file).
using op_table::cases_over;
using op_table::OpCase;
using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(batchnorm) {
  OpTestEntry e;
  e.ops = {"batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward"};
  e.grad_ops = {"batchnorm_forward_train", "batchnorm_backward"};
  e.correctness = [] { return cases_over(bn_cases(), &bn_name, &batchnorm_case); };
  e.gradients = &bn_gradient_cases;
  e.perf = &bn_perf_cases;
  return e;
}

}  // namespace kasmina::cuda_test
