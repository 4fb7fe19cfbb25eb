// Op table entry of batch normalisation on bf16 maps (conv_ops.hpp): x, y, dy, dx bf16 (and a
// bf16 input side x, dx with a float32 output side y, dy), the per-channel tensors float32. CUDA
// (the float32 kernels instantiated for bf16 storage: widened loads, fp32 statistics and
// arithmetic, y and dx rounded once on the store) against the CPU twin (the float32 twin on the
// widened maps, rounded), training forward with and without the fused ReLU, evaluation, backward;
// run to run bitwise; perf rows at the ResNet's shapes beside the float32 entry's.
//
// Tolerances: both sides read the same bf16 values; the statistics differ as in the float32
// entry (fp32 chunked sums against double sums: kTolF32Reduce), and each stored y or dx is the
// CPU's or one bf16 ulp from it (within_one_ulp, compare.hpp: at most 2% differ). The backward
// runs from the CPU's statistics and y, so its ReLU mask is the same on both.
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "ops/conv_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

using ops::bf16_test::to_bf16;

struct BnBf16Case {
  int64_t rows, cols;
  bool relu;
  bool out_f32 = false;  // a bf16 input side (x, dx) with a float32 output side (y, dy)
};

std::string bn_bf16_name(const BnBf16Case& c) {
  return str_cat(op_table::dims({{"R", c.rows}, {"C", c.cols}}), c.relu ? "_relu" : "",
                 c.out_f32 ? "_bf16in" : "_bf16");
}

// A CUDA output against the CPU's: float32 (from identical bf16 inputs: the float32 entry's
// tolerance) or bf16 (one ulp).
::testing::AssertionResult matches(const std::string& what, const Tensor& cuda, const Tensor& cpu) {
  return cpu.dtype() == DType::bf16 ? within_one_ulp(what, cuda, cpu)
                                    : close(what, cuda, cpu, kTolF32Reduce);
}

void batchnorm_bf16_case(const BnBf16Case& c) {
  const uint64_t s = static_cast<uint64_t>(c.rows * 41 + c.cols * 5 + c.relu);
  const Shape rc{c.rows, c.cols}, ch{c.cols};
  const DType out_dt = c.out_f32 ? DType::f32 : DType::bf16;
  const Tensor x = to_bf16(random_f32(rc, s + 1, -1.0f, 3.0f));
  const Tensor dy = c.out_f32 ? random_f32(rc, s + 2) : to_bf16(random_f32(rc, s + 2));
  const Tensor gamma = random_f32(ch, s + 3, 0.5f, 1.5f), beta = random_f32(ch, s + 4);
  const Tensor rm0 = random_f32(ch, s + 5), rv0 = random_f32(ch, s + 6, 0.5f, 2.0f);
  const ops::BatchNormParams p{.eps = 1e-5f, .momentum = 0.1f, .relu = c.relu};
  const std::string what = "batchnorm " + bn_bf16_name(c);

  Tensor rm_cpu = rm0.to(Device::cpu()), rv_cpu = rv0.to(Device::cpu());  // (copies)
  Tensor y_cpu = Tensor::empty(rc, out_dt), mean_cpu = Tensor::empty(ch),
         rstd_cpu = Tensor::empty(ch);
  ops::batchnorm_forward_train(x, gamma, beta, p, rm_cpu, rv_cpu, y_cpu, mean_cpu, rstd_cpu);
  Tensor rm_gpu = on_gpu(rm0), rv_gpu = on_gpu(rv0);
  Tensor y_gpu = poisoned(rc, out_dt), mean_gpu = poisoned(ch, DType::f32),
         rstd_gpu = poisoned(ch, DType::f32);
  const Tensor xg = on_gpu(x), gg = on_gpu(gamma), bg = on_gpu(beta);
  ops::batchnorm_forward_train(xg, gg, bg, p, rm_gpu, rv_gpu, y_gpu, mean_gpu, rstd_gpu);
  EXPECT_TRUE(matches(what + " y", y_gpu, y_cpu));
  EXPECT_TRUE(close(what + " save_mean", mean_gpu, mean_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " save_rstd", rstd_gpu, rstd_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " running_mean", rm_gpu, rm_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " running_var", rv_gpu, rv_cpu, kTolF32Reduce));
  Tensor y_again = poisoned(rc, out_dt);
  ops::batchnorm_forward_train(xg, gg, bg, p, rm_gpu, rv_gpu, y_again, mean_gpu, rstd_gpu);
  EXPECT_TRUE(bitwise_equal(what + " y run to run", y_again, y_gpu));

  Tensor ye_cpu = Tensor::empty(rc, out_dt), ye_gpu = poisoned(rc, out_dt);
  ops::batchnorm_forward_eval(x, gamma, beta, p, rm_cpu, rv_cpu, ye_cpu);
  ops::batchnorm_forward_eval(xg, gg, bg, p, on_gpu(rm_cpu), on_gpu(rv_cpu), ye_gpu);
  EXPECT_TRUE(matches(what + " eval y", ye_gpu, ye_cpu));

  Tensor dx_cpu = Tensor::empty(rc, DType::bf16), dg_cpu = Tensor::empty(ch),
         db_cpu = Tensor::empty(ch);
  ops::batchnorm_backward(dy, x, y_cpu, gamma, mean_cpu, rstd_cpu, p, dx_cpu, dg_cpu, db_cpu);
  Tensor dx_gpu = poisoned(rc, DType::bf16), dg_gpu = poisoned(ch, DType::f32),
         db_gpu = poisoned(ch, DType::f32);
  ops::batchnorm_backward(on_gpu(dy), xg, on_gpu(y_cpu), gg, on_gpu(mean_cpu), on_gpu(rstd_cpu), p,
                          dx_gpu, dg_gpu, db_gpu);
  EXPECT_TRUE(within_one_ulp(what + " dx", dx_gpu, dx_cpu));
  EXPECT_TRUE(close(what + " dgamma", dg_gpu, dg_cpu, kTolF32Reduce));
  EXPECT_TRUE(close(what + " dbeta", db_gpu, db_cpu, kTolF32Reduce));
}

std::vector<BnBf16Case> bn_bf16_cases() {
  std::vector<BnBf16Case> out;
  for (const auto& [r, c] : std::vector<std::pair<int64_t, int64_t>>{
           {7, 3}, {1000, 5}, {4099, 8}, {25088, 32}, {100352, 32}, {6272, 128}, {300, 1100}}) {
    for (bool relu : {false, true}) out.push_back({r, c, relu});
  }
  for (const auto& [r, c] :
       std::vector<std::pair<int64_t, int64_t>>{{7, 3}, {4099, 8}, {100352, 32}, {6272, 128}}) {
    for (bool relu : {false, true}) out.push_back({r, c, relu, true});
  }
  return out;
}

std::vector<op_table::OpCase> bn_bf16_perf_cases() {
  std::vector<op_table::OpCase> out;
  for (const BnBf16Case& c : std::vector<BnBf16Case>{
           {128 * 28 * 28, 32, true}, {128 * 14 * 14, 64, true}, {128 * 7 * 7, 128, true}}) {
    out.push_back({bn_bf16_name(c), [c] {
                     const Device dev = op_table::perf_device();
                     const Shape rc{c.rows, c.cols}, ch{c.cols};
                     const Tensor x = to_bf16(random_f32(rc, 1)).to(dev);
                     const Tensor dy = to_bf16(random_f32(rc, 2)).to(dev);
                     const Tensor g = random_f32(ch, 3).to(dev), b = random_f32(ch, 4).to(dev);
                     Tensor rm = Tensor::zeros(ch, DType::f32, dev);
                     Tensor rv = Tensor::zeros(ch, DType::f32, dev);
                     Tensor y = Tensor::empty(rc, DType::bf16, dev);
                     Tensor dx = Tensor::empty(rc, DType::bf16, dev);
                     Tensor mean = Tensor::empty(ch, DType::f32, dev);
                     Tensor rstd = Tensor::empty(ch, DType::f32, dev);
                     Tensor dg = Tensor::empty(ch, DType::f32, dev);
                     Tensor db = Tensor::empty(ch, DType::f32, dev);
                     const ops::BatchNormParams p{.relu = c.relu};
                     const std::string name = str_cat(" ", bn_bf16_name(c));
                     op_table::time_op("batchnorm_forward_train" + name, dev, [&] {
                       ops::batchnorm_forward_train(x, g, b, p, rm, rv, y, mean, rstd);
                     });
                     op_table::time_op("batchnorm_backward" + name, dev, [&] {
                       ops::batchnorm_backward(dy, x, y, g, mean, rstd, p, dx, dg, db);
                     });
                   }});
  }
  return out;
}

}  // namespace

using op_table::cases_over;
using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(batchnorm_bf16) {
  OpTestEntry e;
  e.ops = {"batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward"};
  e.correctness = [] { return cases_over(bn_bf16_cases(), &bn_bf16_name, &batchnorm_bf16_case); };
  e.perf = &bn_bf16_perf_cases;
  return e;
}

}  // namespace kasmina::cuda_test
