// Op table entries of LayerNorm (forward + backward) and the fused softmax cross-entropy: CUDA
// against the CPU twins, and finite-difference gradients in float64.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

struct RowsCols {
  int64_t rows, cols;
};

std::string rc_name(const RowsCols& c) {
  return str_cat("M", c.rows, "_N", c.cols);
}

std::string rc_what(const char* op, const RowsCols& c) {
  return std::string(op) + " [M=" + std::to_string(c.rows) + " N=" + std::to_string(c.cols) + "]";
}

void layernorm_case(const RowsCols& c) {
  const uint64_t s = static_cast<uint64_t>(c.rows * 131 + c.cols);
  const Tensor x = random_f32({c.rows, c.cols}, s + 1, -2.0f, 3.0f);
  const Tensor gamma = random_f32({c.cols}, s + 2, 0.5f, 1.5f);
  const Tensor beta = random_f32({c.cols}, s + 3);
  const Tensor dy = random_f32({c.rows, c.cols}, s + 4);
  const float eps = 1e-5f;
  Tensor y_cpu = Tensor::empty({c.rows, c.cols}), mean_cpu = Tensor::empty({c.rows}),
         rstd_cpu = Tensor::empty({c.rows});
  ops::layernorm_forward(x, gamma, beta, eps, y_cpu, mean_cpu, rstd_cpu);
  Tensor dx_cpu = Tensor::empty({c.rows, c.cols}), dg_cpu = Tensor::empty({c.cols}),
         db_cpu = Tensor::empty({c.cols});
  ops::layernorm_backward(dy, x, gamma, mean_cpu, rstd_cpu, dx_cpu, dg_cpu, db_cpu);

  const Tensor xg = on_gpu(x), gg = on_gpu(gamma);
  Tensor y_gpu = poisoned({c.rows, c.cols}, DType::f32), mean_gpu = poisoned({c.rows}, DType::f32),
         rstd_gpu = poisoned({c.rows}, DType::f32);
  ops::layernorm_forward(xg, gg, on_gpu(beta), eps, y_gpu, mean_gpu, rstd_gpu);
  EXPECT_TRUE(close(rc_what("layernorm_forward y", c), y_gpu, y_cpu, kTolF32));
  EXPECT_TRUE(close(rc_what("layernorm_forward mean", c), mean_gpu, mean_cpu, kTolF32));
  EXPECT_TRUE(close(rc_what("layernorm_forward rstd", c), rstd_gpu, rstd_cpu, kTolF32));

  // Backward from the CPU's saved statistics, so only the backward kernels are compared.
  Tensor dx_gpu = poisoned({c.rows, c.cols}, DType::f32), dg_gpu = poisoned({c.cols}, DType::f32),
         db_gpu = poisoned({c.cols}, DType::f32);
  ops::layernorm_backward(on_gpu(dy), xg, gg, on_gpu(mean_cpu), on_gpu(rstd_cpu), dx_gpu, dg_gpu,
                          db_gpu);
  if (c.cols == 1) {
    // One feature: x - mean is 0, so dx is 0 mathematically; the CPU gets exactly 0 and the GPU
    // a rounding residual scaled by rstd = 1/sqrt(eps) = 316. Bound it absolutely.
    for (float v : dx_gpu.to_vector<float>()) EXPECT_LE(std::fabs(v), 1e-4f) << rc_what("dx", c);
  } else {
    EXPECT_TRUE(close(rc_what("layernorm_backward dx", c), dx_gpu, dx_cpu, kTolF32Reduce));
  }
  EXPECT_TRUE(close(rc_what("layernorm_backward dgamma", c), dg_gpu, dg_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(rc_what("layernorm_backward dbeta", c), db_gpu, db_cpu, kTolF32Reduce));
}

std::vector<RowsCols> layernorm_cases() {
  std::vector<RowsCols> out;
  for (int64_t m : op_table::odd_rows()) {
    for (int64_t n : {1, 3, 10, 33, 784, 1023}) out.push_back({m, n});
  }
  out.push_back({8192, 256});
  return out;
}

void softmax_xent_case(const RowsCols& c) {
  const uint64_t s = static_cast<uint64_t>(c.rows * 977 + c.cols);
  const Tensor logits = random_f32({c.rows, c.cols}, s, -4.0f, 4.0f);
  std::mt19937_64 rng(s + 1);
  std::vector<int32_t> lab(static_cast<size_t>(c.rows));
  for (int32_t& l : lab) l = static_cast<int32_t>(rng() % static_cast<uint64_t>(c.cols));
  const Tensor labels = Tensor::from_vector(lab, {c.rows});
  const float scale = 1.0f / static_cast<float>(c.rows);
  for (bool with_grad : {true, false}) {
    const std::string what = rc_what("softmax_xent", c) + (with_grad ? " +dlogits" : "");
    // Both accumulators start non-zero: the op adds to them.
    Tensor loss_cpu = Tensor::from_vector<double>({1.25}, {1});
    Tensor corr_cpu = Tensor::from_vector<int64_t>({3}, {1});
    Tensor dl_cpu = Tensor::empty({c.rows, c.cols});
    ops::softmax_xent(logits, labels, scale, with_grad ? &dl_cpu : nullptr, loss_cpu, &corr_cpu);
    Tensor loss_gpu = on_gpu(Tensor::from_vector<double>({1.25}, {1}));
    Tensor corr_gpu = on_gpu(Tensor::from_vector<int64_t>({3}, {1}));
    Tensor dl_gpu = poisoned({c.rows, c.cols}, DType::f32);
    ops::softmax_xent(on_gpu(logits), on_gpu(labels), scale, with_grad ? &dl_gpu : nullptr,
                      loss_gpu, &corr_gpu);
    EXPECT_TRUE(close(what + " loss_sum", loss_gpu, loss_cpu, kTolF32));
    EXPECT_TRUE(same(what + " correct", corr_gpu, corr_cpu));
    if (with_grad) {
      EXPECT_TRUE(close(what + " dlogits", dl_gpu, dl_cpu, kTolF32));
    }
  }
  // Without the optional correct counter.
  Tensor loss_cpu = Tensor::zeros({1}, DType::f64);
  ops::softmax_xent(logits, labels, scale, nullptr, loss_cpu, nullptr);
  Tensor loss_gpu = on_gpu(Tensor::zeros({1}, DType::f64));
  ops::softmax_xent(on_gpu(logits), on_gpu(labels), scale, nullptr, loss_gpu, nullptr);
  EXPECT_TRUE(close(rc_what("softmax_xent (no correct)", c), loss_gpu, loss_cpu, kTolF32));
}

std::vector<RowsCols> softmax_cases() {
  std::vector<RowsCols> out;
  for (int64_t b : {1, 7, 129, 1000, 8192}) {
    for (int64_t n : {1, 3, 4, 10, 33, 1000, 1023}) out.push_back({b, n});
  }
  return out;
}

std::vector<op_table::OpCase> rc_cases(const std::vector<RowsCols>& cases,
                                       void (*fn)(const RowsCols&)) {
  return op_table::cases_over(cases, &rc_name, fn);
}

// ---- gradients (float64, CPU) ----

using namespace op_table;  // NOLINT: the gradient helpers

// layernorm_backward against differences of layernorm_forward (loss Σ r ⊙ y).
void layernorm_gradient(const RowsCols& c) {
  Rng rng(500 + static_cast<uint64_t>(c.rows * 31 + c.cols));
  Tensor x = random_f64(rng, {c.rows, c.cols}, -2.0, 3.0);
  Tensor gamma = random_f64(rng, {c.cols}, 0.5, 1.5), beta = random_f64(rng, {c.cols});
  const Tensor r = random_f64(rng, {c.rows, c.cols});
  Tensor y = Tensor::empty({c.rows, c.cols}, DType::f64);
  Tensor mean = Tensor::empty({c.rows}, DType::f64), rstd = Tensor::empty({c.rows}, DType::f64);
  const double eps = 1e-5;
  const auto loss = [&] {
    ops::layernorm_forward(x, gamma, beta, static_cast<float>(eps), y, mean, rstd);
    return weighted_sum(y, r);
  };
  loss();
  Tensor dx = Tensor::empty({c.rows, c.cols}, DType::f64);
  Tensor dgamma = Tensor::empty({c.cols}, DType::f64), dbeta = Tensor::empty({c.cols}, DType::f64);
  ops::layernorm_backward(r, x, gamma, mean, rstd, dx, dgamma, dbeta);
  double largest = expect_gradient(values(dx), numeric_gradient(x, loss), "dx", 1e-5);
  largest =
      std::max(largest, expect_gradient(values(dgamma), numeric_gradient(gamma, loss), "dgamma"));
  largest =
      std::max(largest, expect_gradient(values(dbeta), numeric_gradient(beta, loss), "dbeta"));
  EXPECT_GT(largest, 1e-2);
}

// softmax_xent's dlogits (grad_scale 1) against differences of its accumulated loss.
void softmax_xent_gradient(const RowsCols& c, float scale) {
  Rng rng(700 + static_cast<uint64_t>(c.rows * 31 + c.cols));
  Tensor logits = random_f64(rng, {c.rows, c.cols}, -4.0, 4.0);
  std::vector<int32_t> lab(static_cast<size_t>(c.rows));
  for (int32_t& l : lab) l = static_cast<int32_t>(rng.below(static_cast<uint64_t>(c.cols)));
  const Tensor labels = Tensor::from_vector(lab, {c.rows});
  Tensor loss_sum = Tensor::zeros({1}, DType::f64);
  const auto loss = [&] {
    ops::fill(loss_sum, 0.0);
    ops::softmax_xent(logits, labels, scale, nullptr, loss_sum, nullptr);
    return loss_sum.to_vector<double>()[0] * scale;
  };
  Tensor dlogits = Tensor::empty({c.rows, c.cols}, DType::f64);
  ops::softmax_xent(logits, labels, scale, &dlogits, loss_sum, nullptr);
  const double largest =
      expect_gradient(values(dlogits), numeric_gradient(logits, loss), "dlogits");
  if (c.cols > 1) {
    EXPECT_GT(largest, 1e-2 * scale);
  }
}

std::vector<op_table::OpCase> layernorm_gradient_cases() {
  return rc_cases({{1, 3}, {4, 5}, {3, 17}, {7, 2}}, &layernorm_gradient);
}

std::vector<op_table::OpCase> softmax_gradient_cases() {
  std::vector<op_table::OpCase> out;
  for (const RowsCols& c : std::vector<RowsCols>{{1, 1}, {1, 4}, {5, 3}, {7, 10}, {3, 33}}) {
    for (float scale : {1.0f, 0.25f}) {
      out.push_back({rc_name(c) + "_scale" + op_table::num_name(scale),
                     [c, scale] { softmax_xent_gradient(c, scale); }});
    }
  }
  return out;
}

}  // namespace
}  // namespace kasmina::cuda_test

namespace kasmina::op_table {

using cuda_test::random_f32;

KASMINA_OP_TABLE_ENTRY(layernorm) {
  OpTestEntry e;
  e.ops = {"layernorm_forward", "layernorm_backward"};
  e.grad_ops = {"layernorm_forward", "layernorm_backward"};
  e.correctness = [] {
    return cuda_test::rc_cases(cuda_test::layernorm_cases(), &cuda_test::layernorm_case);
  };
  e.gradients = &cuda_test::layernorm_gradient_cases;
  e.perf = [] {
    return std::vector<OpCase>{{"M8192_N256", [] {
                                  const Device dev = perf_device();
                                  const int64_t m = 8192, n = 256;
                                  const Tensor x = random_f32({m, n}, 1).to(dev);
                                  const Tensor g = random_f32({n}, 2).to(dev);
                                  const Tensor b = random_f32({n}, 3).to(dev);
                                  Tensor y = Tensor::empty({m, n}, DType::f32, dev);
                                  Tensor mean = Tensor::empty({m}, DType::f32, dev);
                                  Tensor rstd = Tensor::empty({m}, DType::f32, dev);
                                  Tensor dx = Tensor::empty({m, n}, DType::f32, dev);
                                  Tensor dg = Tensor::empty({n}, DType::f32, dev);
                                  Tensor db = Tensor::empty({n}, DType::f32, dev);
                                  time_op("layernorm_forward 8192x256", dev, [&] {
                                    ops::layernorm_forward(x, g, b, 1e-5f, y, mean, rstd);
                                  });
                                  time_op("layernorm_backward 8192x256", dev, [&] {
                                    ops::layernorm_backward(x, x, g, mean, rstd, dx, dg, db);
                                  });
                                }}};
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(softmax_xent) {
  OpTestEntry e;
  e.ops = {"softmax_xent"};
  e.grad_ops = {"softmax_xent"};
  e.correctness = [] {
    return cuda_test::rc_cases(cuda_test::softmax_cases(), &cuda_test::softmax_xent_case);
  };
  e.gradients = &cuda_test::softmax_gradient_cases;
  e.perf = [] {
    return std::vector<OpCase>{{"B8192_C10", [] {
                                  const Device dev = perf_device();
                                  const int64_t b = 8192, c = 10;
                                  const Tensor logits = random_f32({b, c}, 1).to(dev);
                                  std::vector<int32_t> lab(b);
                                  for (int64_t i = 0; i < b; ++i)
                                    lab[i] = static_cast<int32_t>(i % c);
                                  const Tensor labels = Tensor::from_vector(lab, {b}).to(dev);
                                  Tensor dl = Tensor::empty({b, c}, DType::f32, dev);
                                  Tensor loss = Tensor::zeros({1}, DType::f64, dev);
                                  Tensor corr = Tensor::zeros({1}, DType::i64, dev);
                                  time_op("softmax_xent 8192x10", dev, [&] {
                                    ops::softmax_xent(logits, labels, 1.0f / b, &dl, loss, &corr);
                                  });
                                }}};
  };
  return e;
}

}  // namespace kasmina::op_table
