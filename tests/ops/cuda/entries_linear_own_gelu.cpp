// Op table entry of the GELU layers with kasmina's epilogue kernels in place of cuBLASLt's
// (ops::cuda::set_own_gelu_epilogues, KASMINA_OWN_GELU_EPILOGUES=1): linear_forward with GELU
// (the plain GEMM, then bias_activation_kernel writing y and the aux) and linear_backward_input
// through GELU with the bias gradient below (the plain GEMM, then backward_from_aux_kernel and
// the column sums), in fp32 and with bf16 inputs (fp32 outputs), at odd shapes and the ViT's MLP
// shape. Against the CPU twin within kTolF32Reduce (the GEMM's sums in another order, the GELU's
// tanh a few float ulps from libm's); the route taken is checked in the epilogue statistics (a
// forced epilogue, no fused one); the same call twice gives the same bits.
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "kasmina_build_config.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/gemm_options.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

using ops::Activation;

struct OwnGeluCase {
  int64_t m, n, k;  // x [m, k], w [n, k], y [m, n]
  bool bf16_inputs;
};

std::string own_gelu_name(const OwnGeluCase& c) {
  return str_cat("M", c.m, "_N", c.n, "_K", c.k, c.bf16_inputs ? "_bf16in" : "_fp32");
}

// The case's math mode and kasmina's GELU epilogues for the duration of one case; the statistics
// of the epilogues run meanwhile.
struct OwnGeluSetup {
  explicit OwnGeluSetup(const OwnGeluCase& c) {
    ops::set_math_mode(gpu(), c.bf16_inputs ? ops::MathMode::bf16 : ops::MathMode::fp32);
#if KASMINA_HAS_CUDA
    ops::cuda::set_own_gelu_epilogues(gpu(), true);
    before = ops::cuda::gemm_epilogue_stats(gpu());
#endif
  }
  ~OwnGeluSetup() {
    ops::set_math_mode(gpu(), ops::MathMode::fp32);
#if KASMINA_HAS_CUDA
    ops::cuda::set_own_gelu_epilogues(gpu(), false);
#endif
  }
  // Epilogues forced to kasmina's kernels and fused by cuBLASLt since the setup.
  std::pair<int64_t, int64_t> forced_and_fused() const {
#if KASMINA_HAS_CUDA
    const ops::cuda::GemmEpilogueStats now = ops::cuda::gemm_epilogue_stats(gpu());
    return {now.forced - before.forced, now.fused - before.fused};
#else
    return {0, 0};
#endif
  }
#if KASMINA_HAS_CUDA
  ops::cuda::GemmEpilogueStats before;
#endif
};

Tensor input_of(const OwnGeluCase& c, const Shape& s, uint64_t seed) {
  const Tensor f = random_f32(s, seed);
  return c.bf16_inputs ? ops::bf16_test::to_bf16(f) : f;
}

void own_gelu_case(const OwnGeluCase& c) {
  const OwnGeluSetup setup(c);
  const std::string what = "linear GELU with kasmina's epilogue kernels " + own_gelu_name(c);
  const uint64_t s = static_cast<uint64_t>(c.m * 7919 + c.n * 31 + c.k) + (c.bf16_inputs ? 5 : 0);
  const Tensor x = input_of(c, {c.m, c.k}, s + 1), w = input_of(c, {c.n, c.k}, s + 2);
  const Tensor b = random_f32({c.n}, s + 3);
  // Forward: y and the GELU aux (the pre-activation) on both devices.
  Tensor y_cpu = Tensor::empty({c.m, c.n});
  Tensor aux_cpu = ops::make_linear_aux(c.m, c.n, Activation::gelu, Device::cpu());
  ops::linear_forward(x, w, b, Activation::gelu, y_cpu, aux_cpu);
  Tensor y_gpu = poisoned({c.m, c.n}, DType::f32);
  Tensor aux_gpu = ops::make_linear_aux(c.m, c.n, Activation::gelu, gpu());
  aux_gpu = poisoned(aux_gpu.shape(), aux_gpu.dtype());
  ops::linear_forward(on_gpu(x), on_gpu(w), on_gpu(b), Activation::gelu, y_gpu, aux_gpu);
  EXPECT_TRUE(close(what + " y", y_gpu, y_cpu, kTolF32Reduce));
  Tensor y_again = poisoned({c.m, c.n}, DType::f32);
  ops::linear_forward(on_gpu(x), on_gpu(w), on_gpu(b), Activation::gelu, y_again, aux_gpu);
  EXPECT_TRUE(bitwise_equal(what + " y run to run", y_again, y_gpu));
  // The backward of a next layer of k outputs on top of this GELU (its dy [m, k], its weight
  // w2 [k, n]): dx [m, n] through the GELU from this layer's aux, and this layer's bias gradient.
  const Tensor dy = input_of(c, {c.m, c.k}, s + 4);
  const Tensor w2 = input_of(c, {c.k, c.n}, s + 5);
  Tensor dx_cpu = Tensor::empty({c.m, c.n}), db_cpu = Tensor::empty({c.n});
  ops::linear_backward_input(dy, w2, Activation::gelu, aux_cpu, dx_cpu, &db_cpu);
  Tensor dx_gpu = poisoned({c.m, c.n}, DType::f32), db_gpu = poisoned({c.n}, DType::f32);
  ops::linear_backward_input(on_gpu(dy), on_gpu(w2), Activation::gelu, aux_gpu, dx_gpu, &db_gpu);
  EXPECT_TRUE(close(what + " dx", dx_gpu, dx_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " in_dbias", db_gpu, db_cpu, kTolF32Reduce));
  Tensor dx_again = poisoned({c.m, c.n}, DType::f32), db_again = poisoned({c.n}, DType::f32);
  ops::linear_backward_input(on_gpu(dy), on_gpu(w2), Activation::gelu, aux_gpu, dx_again,
                             &db_again);
  EXPECT_TRUE(bitwise_equal(what + " dx run to run", dx_again, dx_gpu));
  EXPECT_TRUE(bitwise_equal(what + " in_dbias run to run", db_again, db_gpu));
  // Every GELU epilogue went to kasmina's kernels: two forwards and two backwards.
  const auto [forced, fused] = setup.forced_and_fused();
  EXPECT_EQ(forced, 4) << what << ": GELU epilogues forced to kasmina's kernels";
  EXPECT_EQ(fused, 0) << what << ": cuBLASLt epilogues used";
}

std::vector<OwnGeluCase> own_gelu_cases() {
  return {{7, 5, 9, false},        {130, 96, 40, false},   {129, 33, 17, true},
          {6400, 256, 128, false}, {6400, 256, 128, true}, {4099, 64, 1000, false}};
}

}  // namespace
}  // namespace kasmina::cuda_test

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(linear_own_gelu) {
  OpTestEntry e;
  e.ops = {"linear_forward", "linear_backward_input"};
  e.correctness = [] {
    return cases_over(cuda_test::own_gelu_cases(), &cuda_test::own_gelu_name,
                      &cuda_test::own_gelu_case);
  };
  return e;
}

}  // namespace kasmina::op_table
