// Op table entries of the fused residual tail (batchnorm_residual_forward, relu_mask_add):
// CUDA against the CPU twins over shapes with and without four-channel vectors, a plain or a
// normalised skip, with and without the ReLU, bf16 normalisation inputs (bf16 convolutions'
// outputs, widened on the load); float64 finite differences of the whole tail (the
// statistics, the fused pass, and the backward a block runs: batchnorm_backward masked by the
// block's output, relu_mask_add for an identity skip); perf cases at the ResNet's shapes.
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "ops/conv_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

struct TailCase {
  int64_t rows, cols;
  bool skip_bn, relu;
  // bf16 normalisation inputs (bf16 convolutions' outputs): 1 the body's, 2 the body's and the
  // shortcut normalisation's, 3 the shortcut normalisation's only.
  int bf16 = 0;
};

std::string tail_name(const TailCase& c) {
  static const char* const kBf16[] = {"", "_bf16body", "_bf16both", "_bf16skip"};
  return str_cat(op_table::dims({{"R", c.rows}, {"C", c.cols}}), c.skip_bn ? "_skipbn" : "_skip",
                 c.relu ? "_relu" : "", kBf16[c.bf16]);
}

// The tensors of one normalisation: x [R, C], and gamma, beta, mean, rstd [C].
struct NormTensors {
  Tensor x, gamma, beta, mean, rstd;
  ops::BatchNormTerm term() const { return {&x, &gamma, &beta, &mean, &rstd}; }
  NormTensors to(Device dev) const {
    return {x.to(dev), gamma.to(dev), beta.to(dev), mean.to(dev), rstd.to(dev)};
  }
};

NormTensors random_norm(int64_t rows, int64_t cols, uint64_t s) {
  const Shape ch{cols};
  return {random_f32({rows, cols}, s + 1, -1.0f, 3.0f), random_f32(ch, s + 2, 0.5f, 1.5f),
          random_f32(ch, s + 3), random_f32(ch, s + 4, 0.0f, 2.0f),
          random_f32(ch, s + 5, 0.5f, 2.0f)};
}

void tail_case(const TailCase& c) {
  const uint64_t s = static_cast<uint64_t>(c.rows * 41 + c.cols * 5 + c.skip_bn * 2 + c.relu);
  const Shape rc{c.rows, c.cols};
  NormTensors body = random_norm(c.rows, c.cols, s),
              skip_norm = random_norm(c.rows, c.cols, s + 10);
  // Both sides read the same bf16 values (widened exactly): the float32 tolerance still holds.
  if (c.bf16 == 1 || c.bf16 == 2) body.x = ops::bf16_test::to_bf16(body.x);
  if (c.bf16 == 2 || c.bf16 == 3) skip_norm.x = ops::bf16_test::to_bf16(skip_norm.x);
  const Tensor skip = random_f32(rc, s + 20, -2.0f, 2.0f);
  const std::string what = "batchnorm_residual_forward " + tail_name(c);

  const ops::BatchNormTerm bt = body.term(), st = skip_norm.term();
  Tensor y_cpu = Tensor::empty(rc);
  ops::batchnorm_residual_forward(bt, c.skip_bn ? &st : nullptr, skip, c.relu, y_cpu, nullptr);
  const NormTensors gbody = body.to(gpu()), gskip = skip_norm.to(gpu());
  const ops::BatchNormTerm gbt = gbody.term(), gst = gskip.term();
  Tensor y_gpu = poisoned(rc, DType::f32);
  ops::batchnorm_residual_forward(gbt, c.skip_bn ? &gst : nullptr,
                                  c.skip_bn ? Tensor() : on_gpu(skip), c.relu, y_gpu, nullptr);
  EXPECT_TRUE(close(what + " y", y_gpu, y_cpu, kTolF32));
  // With a bf16 copy of y (the next block's convolutions' input): y the same bits as without,
  // the copy y's cast_to_bf16, on each side.
  Tensor y2_gpu = poisoned(rc, DType::f32), y16_gpu = Tensor::empty(rc, DType::bf16, gpu());
  ops::batchnorm_residual_forward(gbt, c.skip_bn ? &gst : nullptr,
                                  c.skip_bn ? Tensor() : on_gpu(skip), c.relu, y2_gpu, &y16_gpu);
  EXPECT_TRUE(same(what + " y beside its bf16 copy", y2_gpu, y_gpu));
  EXPECT_EQ(ops::bf16_test::bits(y16_gpu), ops::bf16_test::bits(ops::bf16_test::to_bf16(y_gpu)))
      << what << " y16";
  Tensor y2_cpu = Tensor::empty(rc), y16_cpu = Tensor::empty(rc, DType::bf16);
  ops::batchnorm_residual_forward(bt, c.skip_bn ? &st : nullptr, skip, c.relu, y2_cpu, &y16_cpu);
  EXPECT_EQ(y2_cpu.to_vector<float>(), y_cpu.to_vector<float>()) << what << " y (CPU)";
  EXPECT_EQ(ops::bf16_test::bits(y16_cpu), ops::bf16_test::bits(ops::bf16_test::to_bf16(y_cpu)))
      << what << " y16 (CPU)";

  // relu_mask_add from the CPU's y: one rounded addition, bitwise equal.
  const Tensor dy = random_f32(rc, s + 30), g = random_f32(rc, s + 31);
  Tensor dx_cpu = Tensor::empty(rc), dx_gpu = poisoned(rc, DType::f32);
  ops::relu_mask_add(dy, y_cpu, g, dx_cpu);
  ops::relu_mask_add(on_gpu(dy), on_gpu(y_cpu), on_gpu(g), dx_gpu);
  EXPECT_EQ(dx_gpu.to(Device::cpu()).to_vector<float>(), dx_cpu.to_vector<float>())
      << "relu_mask_add " << tail_name(c);
  // A bf16 g (a bf16 convolution's input gradient): the sum of the widened copy, bit for bit.
  const Tensor g16 = ops::bf16_test::to_bf16(g);
  Tensor want = Tensor::empty(rc), dx16_cpu = Tensor::empty(rc);
  Tensor dx16_gpu = poisoned(rc, DType::f32);
  ops::relu_mask_add(dy, y_cpu, ops::bf16_test::widen(g16), want);
  ops::relu_mask_add(dy, y_cpu, g16, dx16_cpu);
  ops::relu_mask_add(on_gpu(dy), on_gpu(y_cpu), on_gpu(g16), dx16_gpu);
  EXPECT_EQ(dx16_cpu.to_vector<float>(), want.to_vector<float>())
      << "relu_mask_add bf16 g (CPU) " << tail_name(c);
  EXPECT_EQ(dx16_gpu.to(Device::cpu()).to_vector<float>(), want.to_vector<float>())
      << "relu_mask_add bf16 g " << tail_name(c);
}

std::vector<TailCase> tail_cases() {
  std::vector<TailCase> out;
  for (const auto& [r, cols] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 3}, {7, 5}, {129, 4}, {4099, 8}, {25088, 64}, {6272, 128}}) {
    for (bool skip_bn : {false, true})
      for (bool relu : {false, true}) out.push_back({r, cols, skip_bn, relu});
  }
  for (const auto& [r, cols] :
       std::vector<std::pair<int64_t, int64_t>>{{7, 5}, {4099, 8}, {25088, 64}}) {
    out.push_back({r, cols, false, true, 1});
    for (int b : {1, 2, 3}) out.push_back({r, cols, true, true, b});
  }
  return out;
}

// ---- gradients (float64, CPU): the tail as a residual block runs it ----

using namespace op_table;  // NOLINT: the gradient helpers

void tail_gradient(const TailCase& c) {
  Rng rng(1700 + static_cast<uint64_t>(c.rows * 7 + c.cols + c.skip_bn * 3 + c.relu));
  const Shape rc{c.rows, c.cols}, ch{c.cols};
  Tensor x = random_f64(rng, rc, -1.0, 3.0), xs = random_f64(rng, rc, -2.0, 1.0);
  Tensor gamma = random_f64(rng, ch, 0.5, 1.5), beta = random_f64(rng, ch, -0.3, 0.3);
  Tensor gamma_s = random_f64(rng, ch, 0.5, 1.5), beta_s = random_f64(rng, ch, -0.3, 0.3);
  const Tensor r = random_f64(rng, rc);
  Tensor rm = Tensor::zeros(ch, DType::f64), rv = Tensor::zeros(ch, DType::f64);
  Tensor mean = Tensor::empty(ch, DType::f64), rstd = Tensor::empty(ch, DType::f64);
  Tensor mean_s = Tensor::empty(ch, DType::f64), rstd_s = Tensor::empty(ch, DType::f64);
  Tensor y = Tensor::empty(rc, DType::f64), none;
  const ops::BatchNormParams stats_only{.apply = false};
  const ops::BatchNormTerm bt{&x, &gamma, &beta, &mean, &rstd};
  const ops::BatchNormTerm st{&xs, &gamma_s, &beta_s, &mean_s, &rstd_s};
  const auto loss = [&] {
    ops::batchnorm_forward_train(x, gamma, beta, stats_only, rm, rv, none, mean, rstd);
    if (c.skip_bn)
      ops::batchnorm_forward_train(xs, gamma_s, beta_s, stats_only, rm, rv, none, mean_s, rstd_s);
    ops::batchnorm_residual_forward(bt, c.skip_bn ? &st : nullptr, xs, c.relu, y, nullptr);
    return weighted_sum(y, r);
  };
  loss();
  const ops::BatchNormParams masked{.relu = c.relu};
  Tensor dx = Tensor::empty(rc, DType::f64), dxs = Tensor::empty(rc, DType::f64);
  Tensor dg = Tensor::empty(ch, DType::f64), db = Tensor::empty(ch, DType::f64);
  Tensor dgs = Tensor::empty(ch, DType::f64), dbs = Tensor::empty(ch, DType::f64);
  ops::batchnorm_backward(r, x, y, gamma, mean, rstd, masked, dx, dg, db);
  if (c.skip_bn) {
    ops::batchnorm_backward(r, xs, y, gamma_s, mean_s, rstd_s, masked, dxs, dgs, dbs);
  } else if (c.relu) {
    ops::relu_mask_add(r, y, Tensor::zeros(rc, DType::f64), dxs);
  } else {
    dxs.copy_from(r);
  }
  double largest = expect_gradient(values(dx), numeric_gradient(x, loss), "dx", 1e-5);
  largest =
      std::max(largest, expect_gradient(values(dxs), numeric_gradient(xs, loss), "dskip", 1e-5));
  expect_gradient(values(dg), numeric_gradient(gamma, loss), "dgamma");
  expect_gradient(values(db), numeric_gradient(beta, loss), "dbeta");
  if (c.skip_bn) {
    expect_gradient(values(dgs), numeric_gradient(gamma_s, loss), "dgamma_s");
    expect_gradient(values(dbs), numeric_gradient(beta_s, loss), "dbeta_s");
  }
  EXPECT_GT(largest, 1e-2);
}

std::vector<op_table::OpCase> tail_gradient_cases() {
  return op_table::cases_over(
      std::vector<TailCase>{
          {5, 3, false, false}, {6, 4, false, true}, {9, 2, true, false}, {12, 5, true, true}},
      &tail_name, &tail_gradient);
}

std::vector<op_table::OpCase> tail_perf_cases() {
  std::vector<op_table::OpCase> out;
  for (const TailCase& c : std::vector<TailCase>{{128 * 28 * 28, 32, false, true},
                                                 {128 * 14 * 14, 64, true, true},
                                                 {128 * 28 * 28, 32, false, true, 1},
                                                 {128 * 14 * 14, 64, true, true, 2}}) {
    out.push_back({tail_name(c), [c] {
                     const Device dev = op_table::perf_device();
                     NormTensors hb = random_norm(c.rows, c.cols, 1),
                                 hs = random_norm(c.rows, c.cols, 2);
                     if (c.bf16) {  // the bf16 convolutions' outputs (the skip stays float32)
                       hb.x = ops::bf16_test::to_bf16(hb.x);
                       if (c.skip_bn) hs.x = ops::bf16_test::to_bf16(hs.x);
                     }
                     const NormTensors b = hb.to(dev), sn = hs.to(dev);
                     const ops::BatchNormTerm bt = b.term(), st = sn.term();
                     const Tensor skip = c.skip_bn ? Tensor() : sn.x;
                     Tensor y = Tensor::empty({c.rows, c.cols}, DType::f32, dev);
                     const std::string shape = str_cat(" ", tail_name(c));
                     op_table::time_op("batchnorm_residual_forward" + shape, dev, [&] {
                       ops::batchnorm_residual_forward(bt, c.skip_bn ? &st : nullptr, skip, c.relu,
                                                       y, nullptr);
                     });
                     if (c.bf16)
                       return;  // relu_mask_add reads no normalisation input: the rows above
                     Tensor dx = Tensor::empty({c.rows, c.cols}, DType::f32, dev);
                     op_table::time_op("relu_mask_add" + shape, dev,
                                       [&] { ops::relu_mask_add(sn.x, y, b.x, dx); });
                   }});
  }
  return out;
}

}  // namespace

using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(residual_tail) {
  OpTestEntry e;
  e.ops = {"batchnorm_residual_forward", "relu_mask_add"};
  e.grad_ops = {"batchnorm_residual_forward", "relu_mask_add"};
  e.correctness = [] { return op_table::cases_over(tail_cases(), &tail_name, &tail_case); };
  e.gradients = &tail_gradient_cases;
  e.perf = &tail_perf_cases;
  return e;
}

}  // namespace kasmina::cuda_test
