// LayerNorm forward/backward and the fused softmax cross-entropy against the CPU twins.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tests/ops/cuda/compare.hpp"

namespace kasmina::cuda_test {
namespace {

struct RowsCols {
  int64_t rows, cols;
};

std::string rc_name(const ::testing::TestParamInfo<RowsCols>& i) {
  return "M" + std::to_string(i.param.rows) + "_N" + std::to_string(i.param.cols);
}

std::string rc_what(const char* op, const RowsCols& c) {
  return std::string(op) + " [M=" + std::to_string(c.rows) + " N=" + std::to_string(c.cols) + "]";
}

class LayerNormVsCpu : public ::testing::TestWithParam<RowsCols> {
 protected:
  void SetUp() override { KASMINA_REQUIRE_CUDA(); }
};

TEST_P(LayerNormVsCpu, ForwardBackward) {
  const RowsCols c = GetParam();
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
  EXPECT_TRUE(close(rc_what("layernorm_forward y", c), y_gpu, y_cpu, 1e-5));
  EXPECT_TRUE(close(rc_what("layernorm_forward mean", c), mean_gpu, mean_cpu, 1e-5));
  EXPECT_TRUE(close(rc_what("layernorm_forward rstd", c), rstd_gpu, rstd_cpu, 1e-5));

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
    EXPECT_TRUE(close(rc_what("layernorm_backward dx", c), dx_gpu, dx_cpu, 1e-4));
  }
  EXPECT_TRUE(close(rc_what("layernorm_backward dgamma", c), dg_gpu, dg_cpu, 1e-4));
  EXPECT_TRUE(close(rc_what("layernorm_backward dbeta", c), db_gpu, db_cpu, 1e-4));
}

std::vector<RowsCols> layernorm_cases() {
  std::vector<RowsCols> out;
  for (int64_t m : {1, 7, 129, 1000, 4099}) {
    for (int64_t n : {1, 3, 10, 33, 784, 1023}) out.push_back({m, n});
  }
  out.push_back({8192, 256});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Ops, LayerNormVsCpu, ::testing::ValuesIn(layernorm_cases()), rc_name);

class SoftmaxXentVsCpu : public ::testing::TestWithParam<RowsCols> {
 protected:
  void SetUp() override { KASMINA_REQUIRE_CUDA(); }
};

TEST_P(SoftmaxXentVsCpu, LossGradCorrect) {
  const RowsCols c = GetParam();
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
    EXPECT_TRUE(close(what + " loss_sum", loss_gpu, loss_cpu, 1e-5));
    EXPECT_TRUE(same(what + " correct", corr_gpu, corr_cpu));
    if (with_grad) {
      EXPECT_TRUE(close(what + " dlogits", dl_gpu, dl_cpu, 1e-5));
    }
  }
  // Without the optional correct counter.
  Tensor loss_cpu = Tensor::zeros({1}, DType::f64);
  ops::softmax_xent(logits, labels, scale, nullptr, loss_cpu, nullptr);
  Tensor loss_gpu = on_gpu(Tensor::zeros({1}, DType::f64));
  ops::softmax_xent(on_gpu(logits), on_gpu(labels), scale, nullptr, loss_gpu, nullptr);
  EXPECT_TRUE(close(rc_what("softmax_xent (no correct)", c), loss_gpu, loss_cpu, 1e-5));
}

std::vector<RowsCols> softmax_cases() {
  std::vector<RowsCols> out;
  for (int64_t b : {1, 7, 129, 1000, 8192}) {
    for (int64_t n : {1, 3, 4, 10, 33, 1000, 1023}) out.push_back({b, n});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Ops, SoftmaxXentVsCpu, ::testing::ValuesIn(softmax_cases()), rc_name);

}  // namespace
}  // namespace kasmina::cuda_test
