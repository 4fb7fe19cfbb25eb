// Linear layers (cuBLASLt epilogues and their fallbacks) against the OpenBLAS CPU twins.
#include <string>
#include <tuple>
#include <vector>

#include "kasmina_build_config.hpp"
#include "tests/ops/cuda/compare.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/gemm_options.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

using ops::Activation;
using ops::MathMode;

struct LinearCase {
  int64_t m, n, k;
  Activation act;
  MathMode math;
  bool fused = true;  // false: plain GEMM + kasmina's epilogue kernels
};

void use_fused_epilogues(bool on) {
#if KASMINA_HAS_CUDA
  ops::cuda::set_fused_epilogues(gpu(), on);
#else
  (void)on;
#endif
}

std::string case_name(const LinearCase& c) {
  return "M" + std::to_string(c.m) + "_N" + std::to_string(c.n) + "_K" + std::to_string(c.k) + "_" +
         ops::activation_name(c.act) + (c.math == MathMode::tf32 ? "_tf32" : "_fp32") +
         (c.fused ? "" : "_unfused");
}

std::string describe(const char* op, const LinearCase& c) {
  return std::string(op) + " [M=" + std::to_string(c.m) + " N=" + std::to_string(c.n) +
         " K=" + std::to_string(c.k) + " act=" + ops::activation_name(c.act) +
         (c.math == MathMode::tf32 ? " tf32" : " fp32") +
         (c.fused ? " cuBLASLt epilogues]" : " plain GEMM + own epilogue kernels]");
}

double gemm_tol(MathMode math) {
  return math == MathMode::tf32 ? 5e-3 : 1e-4;
}

uint64_t seed_of(const LinearCase& c, uint64_t salt) {
  return static_cast<uint64_t>(c.m * 1000003 + c.n * 1009 + c.k * 7 + static_cast<int>(c.act) * 31 +
                               static_cast<int>(c.math)) ^
         salt;
}

class LinearVsCpu : public ::testing::TestWithParam<LinearCase> {
 protected:
  void SetUp() override {
    KASMINA_REQUIRE_CUDA();
    ops::set_math_mode(gpu(), GetParam().math);
    use_fused_epilogues(GetParam().fused);
  }
  void TearDown() override {
    if (ops::cuda_available()) {
      ops::set_math_mode(gpu(), MathMode::fp32);
      use_fused_epilogues(true);
    }
  }
};

// Saved state of a fused layer whose pre-activation is exactly `pre` on both devices: a forward
// through an identity weight (exact in fp32), so the backward tests see identical masks.
struct SavedState {
  Tensor cpu_aux, gpu_aux;
};

SavedState saved_state_from(const Tensor& pre, Activation act) {
  const int64_t rows = pre.dim(0), cols = pre.dim(1);
  SavedState s;
  if (act == Activation::none) return s;
  std::vector<float> eye(static_cast<size_t>(cols * cols), 0.0f);
  for (int64_t i = 0; i < cols; ++i) eye[static_cast<size_t>(i * cols + i)] = 1.0f;
  const Tensor w = Tensor::from_vector(eye, {cols, cols});
  const Tensor b = Tensor::zeros({cols});
  Tensor y_cpu = Tensor::empty({rows, cols});
  s.cpu_aux = ops::make_linear_aux(rows, cols, act, Device::cpu());
  ops::linear_forward(pre, w, b, act, y_cpu, s.cpu_aux);
  ops::set_math_mode(gpu(), MathMode::fp32);
  Tensor y_gpu = poisoned({rows, cols}, DType::f32);
  s.gpu_aux = ops::make_linear_aux(rows, cols, act, gpu());
  ops::linear_forward(on_gpu(pre), on_gpu(w), on_gpu(b), act, y_gpu, s.gpu_aux);
  // GELU's tanh differs between the CPU's libm and the GPU by a few float ulps (measured on
  // the H100: 1.7e-6 relative), so the bound is float rounding, not exactness.
  EXPECT_TRUE(close("identity linear_forward", y_gpu, y_cpu, 1e-5));
  return s;
}

TEST_P(LinearVsCpu, Forward) {
  const LinearCase c = GetParam();
  for (bool with_bias : {true, false}) {
    const std::string what = describe("linear_forward", c) + (with_bias ? " bias" : " no-bias");
    const Tensor x = random_f32({c.m, c.k}, seed_of(c, 1));
    const Tensor w = random_f32({c.n, c.k}, seed_of(c, 2));
    const Tensor b = with_bias ? random_f32({c.n}, seed_of(c, 3)) : Tensor();
    Tensor y_cpu = Tensor::empty({c.m, c.n});
    Tensor aux_cpu = ops::make_linear_aux(c.m, c.n, c.act, Device::cpu());
    ops::linear_forward(x, w, b, c.act, y_cpu, aux_cpu);

    Tensor y_gpu = poisoned({c.m, c.n}, DType::f32);
    Tensor aux_gpu = ops::make_linear_aux(c.m, c.n, c.act, gpu());
    if (aux_gpu.defined()) aux_gpu = poisoned(aux_gpu.shape(), aux_gpu.dtype());
    ops::linear_forward(on_gpu(x), on_gpu(w), with_bias ? on_gpu(b) : Tensor(), c.act, y_gpu,
                        aux_gpu);
    ASSERT_TRUE(close(what + " y", y_gpu, y_cpu, gemm_tol(c.math)));
    if (c.act == Activation::none) continue;

    // The saved state must reproduce the activation's derivative.
    const Tensor dy = random_f32({c.m, c.n}, seed_of(c, 4));
    Tensor dpre_gpu = poisoned({c.m, c.n}, DType::f32);
    ops::activation_backward_aux(c.act, on_gpu(dy), aux_gpu, dpre_gpu);
    if (c.act == Activation::gelu) {
      Tensor dpre_cpu = Tensor::empty({c.m, c.n});
      ops::activation_backward_aux(c.act, dy, aux_cpu, dpre_cpu);
      EXPECT_TRUE(close(what + " activation_backward_aux(gelu aux)", dpre_gpu, dpre_cpu,
                        gemm_tol(c.math) * 10));
    } else {
      // ReLU mask bit set exactly where the CUDA output is positive. An output of exactly 0 may
      // come from a pre-activation that is a positive denormal (flushed to zero in the stored
      // output but counted positive by cuBLASLt's mask, seen once under TF32 on the H100):
      // there either answer is right, so the expectation takes the CUDA value.
      const std::vector<float> yv = y_gpu.to_vector<float>(), dyv = dy.to_vector<float>();
      const std::vector<float> got = dpre_gpu.to_vector<float>();
      std::vector<float> expect(yv.size());
      int64_t ties = 0;
      for (size_t i = 0; i < yv.size(); ++i) {
        expect[i] = yv[i] > 0.0f ? dyv[i] : 0.0f;
        if (yv[i] == 0.0f && got[i] == dyv[i]) {
          expect[i] = dyv[i];
          ++ties;
        }
      }
      EXPECT_LE(ties, 4) << what << ": zero outputs with the mask bit set";
      EXPECT_TRUE(same(what + " activation_backward_aux(relu mask) vs dy*(y>0)", dpre_gpu,
                       Tensor::from_vector(expect, {c.m, c.n})));
    }
  }
}

TEST_P(LinearVsCpu, BackwardInput) {
  const LinearCase c = GetParam();
  const Tensor dy = random_f32({c.m, c.n}, seed_of(c, 5));
  const Tensor w = random_f32({c.n, c.k}, seed_of(c, 6));
  const Tensor pre = random_away_from_zero({c.m, c.k}, seed_of(c, 7));
  const SavedState saved = saved_state_from(pre, c.act);
  ops::set_math_mode(gpu(), c.math);
  const bool can_dbias = c.act != Activation::none;
  for (bool with_dbias : {false, true}) {
    if (with_dbias && !can_dbias) continue;
    const std::string what =
        describe("linear_backward_input", c) + (with_dbias ? " +in_dbias" : "");
    Tensor dx_cpu = Tensor::empty({c.m, c.k});
    Tensor db_cpu = Tensor::empty({c.k});
    ops::linear_backward_input(dy, w, c.act, saved.cpu_aux, dx_cpu, with_dbias ? &db_cpu : nullptr);
    Tensor dx_gpu = poisoned({c.m, c.k}, DType::f32);
    Tensor db_gpu = poisoned({c.k}, DType::f32);
    ops::linear_backward_input(on_gpu(dy), on_gpu(w), c.act, saved.gpu_aux, dx_gpu,
                               with_dbias ? &db_gpu : nullptr);
    EXPECT_TRUE(close(what + " dx", dx_gpu, dx_cpu, gemm_tol(c.math)));
    if (with_dbias) {
      EXPECT_TRUE(close(what + " in_dbias", db_gpu, db_cpu, gemm_tol(c.math)));
    }
  }
}

TEST_P(LinearVsCpu, BackwardWeight) {
  const LinearCase c = GetParam();
  const Tensor dy = random_f32({c.m, c.n}, seed_of(c, 8));
  const Tensor x = random_f32({c.m, c.k}, seed_of(c, 9));
  for (bool with_db : {true, false}) {
    const std::string what = describe("linear_backward_weight", c) + (with_db ? " +db" : "");
    Tensor dw_cpu = Tensor::empty({c.n, c.k});
    Tensor db_cpu = Tensor::empty({c.n});
    ops::linear_backward_weight(dy, x, dw_cpu, with_db ? &db_cpu : nullptr);
    Tensor dw_gpu = poisoned({c.n, c.k}, DType::f32);
    Tensor db_gpu = poisoned({c.n}, DType::f32);
    ops::linear_backward_weight(on_gpu(dy), on_gpu(x), dw_gpu, with_db ? &db_gpu : nullptr);
    EXPECT_TRUE(close(what + " dw", dw_gpu, dw_cpu, gemm_tol(c.math)));
    // cuBLASLt's BGRADB may reduce TF32-rounded operands: GEMM tolerance.
    if (with_db) {
      EXPECT_TRUE(close(what + " db", db_gpu, db_cpu, gemm_tol(c.math)));
    }
  }
}

std::vector<LinearCase> linear_cases() {
  std::vector<LinearCase> out;
  const std::vector<std::pair<int64_t, int64_t>> nk = {{1, 1},    {3, 10},   {10, 33},
                                                       {33, 784}, {1023, 3}, {784, 1023}};
  for (int64_t m : {1, 7, 129, 1000, 4099}) {
    for (const auto& [n, k] : nk) {
      for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
        out.push_back({m, n, k, act, MathMode::fp32});
      }
    }
  }
  // Large batches, as a training step of a small MLP sees them.
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({8192, 256, 784, act, MathMode::fp32});
    out.push_back({8192, 10, 256, act, MathMode::fp32});
  }
  // TF32 tensor cores.
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({129, 33, 784, act, MathMode::tf32});
    out.push_back({4099, 1023, 10, act, MathMode::tf32});
    out.push_back({8192, 256, 784, act, MathMode::tf32});
  }
  // kasmina's own epilogue kernels (bias + activation forward with cuBLASLt's aux format,
  // activation backward from aux, deterministic bias-gradient sums) after plain GEMMs.
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({1, 1, 1, act, MathMode::fp32, false});
    out.push_back({7, 33, 10, act, MathMode::fp32, false});
    out.push_back({129, 1023, 784, act, MathMode::fp32, false});
    out.push_back({1000, 3, 1023, act, MathMode::fp32, false});
    out.push_back({4099, 130, 33, act, MathMode::fp32, false});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Ops, LinearVsCpu, ::testing::ValuesIn(linear_cases()),
                         [](const ::testing::TestParamInfo<LinearCase>& i) {
                           return case_name(i.param);
                         });

}  // namespace
}  // namespace kasmina::cuda_test
