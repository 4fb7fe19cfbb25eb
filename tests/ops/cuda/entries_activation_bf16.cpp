// Op table entry of activation_backward_aux_bf16 (ops/precision_ops.hpp, kernels/
// activation_bf16.cu): the input gradient's activation backward as one pass storing bf16, with
// the bias gradient summed over the stored values. ReLU and none: bit for bit the CPU twin (the
// same fp32 product rounded by the same function); GELU: each element within one bf16 ulp of the
// CPU's plus 2^-20 |g| (the derivative's float32 tanh differs by about 1e-6 absolute); the bias
// gradient against the sums of the CUDA dx and the CPU's; run to run bitwise. Shapes cover the
// vector kernel (columns a multiple of 8) and the scalar one, a bf16 g masked in place, and the
// chunked rows.
#include <cmath>
#include <string>
#include <vector>

#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

using ops::bf16_test::to_bf16;

using ops::Activation;

struct PassCase {
  int64_t m, k;
  Activation act;
  bool bf16_g;  // g in bf16, masked in place (relu and none)
};

std::string case_name(const PassCase& c) {
  return op_table::dims({{"M", c.m}, {"K", c.k}}) + "_" + ops::activation_name(c.act) +
         (c.bf16_g ? "_bf16g_inplace" : "_f32g");
}

// The saved state of a fused layer whose pre-activation is exactly `pre` (float32): on the CPU
// `pre` itself, on the GPU cuBLASLt's aux from an identity forward in fp32 (exact).
Tensor gpu_aux_of(const Tensor& pre, Activation act) {
  if (act == Activation::none) return Tensor();
  const int64_t rows = pre.dim(0), cols = pre.dim(1);
  std::vector<float> eye(static_cast<size_t>(cols * cols), 0.0f);
  for (int64_t i = 0; i < cols; ++i) eye[static_cast<size_t>(i * cols + i)] = 1.0f;
  Tensor y = Tensor::empty({rows, cols}, DType::f32, gpu());
  Tensor aux = ops::make_linear_aux(rows, cols, act, gpu());
  ops::linear_forward(on_gpu(pre), on_gpu(Tensor::from_vector(eye, {cols, cols})), Tensor(), act, y,
                      aux);
  return aux;
}

// Every element within one bf16 ulp of the CPU's plus 2^-20 |g| (the GELU derivative's
// float32 tanh may differ by about 1e-6 absolute between the device and the CPU, which near the
// derivative's zero crossing is many ulps of a tiny product), at most 1% differ.
::testing::AssertionResult within_one_ulp(const std::string& what, const Tensor& cuda_out,
                                          const Tensor& cpu_ref, const Tensor& g) {
  const std::vector<double> out = host_values(cuda_out), ref = host_values(cpu_ref),
                            gv = host_values(g);
  int64_t differ = 0, bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(out[i] - ref[i]);
    if (d == 0.0) continue;
    ++differ;
    const double m = std::max(std::fabs(out[i]), std::fabs(ref[i]));
    const double bound = std::ldexp(1.0, std::ilogb(m) - 7) + std::ldexp(std::fabs(gv[i]), -20);
    if (!std::isfinite(out[i]) || d > bound) ++bad;
  }
  const auto n = static_cast<int64_t>(ref.size());
  if (bad == 0 && differ <= std::max<int64_t>(2, n / 100)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " elements beyond one ulp, "
                                       << differ << " of " << n << " differ";
}

void pass_case(const PassCase& c) {
  const uint64_t seed = static_cast<uint64_t>(c.m * 7919 + c.k * 31 + static_cast<int>(c.act));
  const Tensor g32 = random_f32({c.m, c.k}, seed, -2.0f, 2.0f);
  const Tensor g = c.bf16_g ? to_bf16(g32) : g32;
  const Tensor pre = random_away_from_zero({c.m, c.k}, seed + 1);
  const Tensor gpu_aux = gpu_aux_of(pre, c.act);
  const Tensor cpu_aux = c.act == Activation::none ? Tensor() : pre;
  for (bool with_db : {false, true}) {
    const std::string what =
        "activation_backward_aux_bf16 " + case_name(c) + (with_db ? " +db" : "");
    Tensor dx_cpu = Tensor::empty({c.m, c.k}, DType::bf16), db_cpu = Tensor::empty({c.k});
    ops::activation_backward_aux_bf16(c.act, g, cpu_aux, dx_cpu, with_db ? &db_cpu : nullptr);
    auto run_gpu = [&](Tensor& dx, Tensor& db) {
      if (c.bf16_g) {
        dx = on_gpu(g);  // in place
        ops::activation_backward_aux_bf16(c.act, dx, gpu_aux, dx, with_db ? &db : nullptr);
      } else {
        dx = poisoned({c.m, c.k}, DType::bf16);
        ops::activation_backward_aux_bf16(c.act, on_gpu(g), gpu_aux, dx, with_db ? &db : nullptr);
      }
    };
    Tensor dx_gpu, db_gpu = poisoned({c.k}, DType::f32);
    run_gpu(dx_gpu, db_gpu);
    if (c.act == Activation::gelu) {
      EXPECT_TRUE(within_one_ulp(what + " dx", dx_gpu, dx_cpu, g));
    } else {
      EXPECT_TRUE(same(what + " dx", dx_gpu, dx_cpu));
    }
    if (with_db) {
      EXPECT_TRUE(close(what + " dbias vs sums of the CUDA dx", db_gpu,
                        column_sums_of(dx_gpu, c.m, c.k), kTolF32Reduce));
      EXPECT_TRUE(close(what + " dbias", db_gpu, db_cpu,
                        c.act == Activation::gelu ? std::ldexp(1.0, -7) : kTolF32Reduce));
    }
    Tensor dx_again, db_again = poisoned({c.k}, DType::f32);
    run_gpu(dx_again, db_again);
    EXPECT_TRUE(bitwise_equal(what + " dx run to run", dx_again, dx_gpu));
    if (with_db) {
      EXPECT_TRUE(bitwise_equal(what + " dbias run to run", db_again, db_gpu));
    }
  }
}

std::vector<op_table::OpCase> pass_cases() {
  std::vector<PassCase> params;
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    for (const auto& [m, k] : {std::pair<int64_t, int64_t>{1, 1},
                               {7, 3},
                               {129, 33},
                               {64, 8},
                               {1000, 1023},
                               {4099, 130},
                               {4099, 1024},
                               {256, 256}}) {
      params.push_back({m, k, act, false});
      if (act != Activation::gelu) params.push_back({m, k, act, true});
    }
  }
  return op_table::cases_over(params, case_name, pass_case);
}

// The pass alone at the wide MLP's input gradients (4096 x 4096 at batch 4096), in place on a
// bf16 g (the route's ReLU case) and from an fp32 g; compare cast_to_bf16's 16777216 row.
std::vector<op_table::OpCase> pass_perf_cases() {
  std::vector<op_table::OpCase> out;
  for (const auto& [m, k] : {std::pair<int64_t, int64_t>{4096, 4096}, {4096, 1024}, {256, 256}}) {
    for (bool bf16_g : {true, false}) {
      out.push_back(
          {op_table::dims({{"M", m}, {"K", k}}) + (bf16_g ? "_bf16g" : "_f32g"), [m, k, bf16_g] {
             const Device dev = op_table::perf_device();
             const Tensor g32 = random_f32({m, k}, 1).to(dev);
             Tensor g = bf16_g ? to_bf16(g32) : g32;
             Tensor dx = bf16_g ? g : Tensor::empty({m, k}, DType::bf16, dev);
             Tensor y = Tensor::empty({m, k}, DType::f32, dev);
             Tensor aux = ops::make_linear_aux(m, k, Activation::relu, dev);
             const Tensor x = random_f32({m, 8}, 2).to(dev);
             const Tensor w = random_f32({k, 8}, 3).to(dev);
             ops::linear_forward(x, w, Tensor(), Activation::relu, y, aux);
             Tensor db = Tensor::empty({k}, DType::f32, dev);
             op_table::time_op(
                 "activation_backward_aux_bf16 relu " + std::to_string(m) + "x" +
                     std::to_string(k) + (bf16_g ? " bf16 g in place" : " fp32 g"),
                 dev,
                 [&] { ops::activation_backward_aux_bf16(Activation::relu, g, aux, dx, &db); });
           }});
    }
  }
  return out;
}

}  // namespace
}  // namespace kasmina::cuda_test

KASMINA_OP_TABLE_ENTRY(activation_backward_aux_bf16) {
  kasmina::op_table::OpTestEntry e;
  e.ops = {"activation_backward_aux_bf16"};
  e.correctness = &kasmina::cuda_test::pass_cases;
  e.perf = &kasmina::cuda_test::pass_perf_cases;
  return e;
}
