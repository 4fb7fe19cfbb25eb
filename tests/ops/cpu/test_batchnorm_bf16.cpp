// Batch normalisation on bf16 maps, CPU twins (conv_ops.hpp): the float32 twin on the widened
// maps with float32 statistics, y and dx rounded once, bit for bit (training forward with and
// without the fused ReLU, evaluation, backward; all maps bf16, and a bf16 input side with a
// float32 output side), and the dtype rules (each side one dtype, the per-channel tensors
// float32, float64 only with float64).
#include <gtest/gtest.h>

#include <vector>

#include "core/bf16.hpp"
#include "core/rng.hpp"
#include "ops/conv_ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina::ops {
namespace {

using namespace bf16_test;  // NOLINT: random_f32, to_bf16, widen, bits

TEST(CpuBatchNormBf16, IsTheFloatTwinOnWidenedMapsRoundedOnce) {
  const int64_t rows = 37, cols = 6;
  for (bool relu : {false, true}) {
    Rng rng(relu ? 5 : 6);
    const Tensor x16 = to_bf16(random_f32(rng, {rows, cols}, 3.0));
    const Tensor dy16 = to_bf16(random_f32(rng, {rows, cols}));
    const Tensor gamma = random_f32(rng, {cols}), beta = random_f32(rng, {cols});
    const BatchNormParams p{.eps = 1e-5f, .momentum = 0.1f, .relu = relu};
    Tensor rm = Tensor::zeros({cols}), rv = Tensor::zeros({cols});
    Tensor rm32 = Tensor::zeros({cols}), rv32 = Tensor::zeros({cols});
    Tensor y16 = Tensor::empty({rows, cols}, DType::bf16), mean = Tensor::empty({cols}),
           rstd = Tensor::empty({cols});
    batchnorm_forward_train(x16, gamma, beta, p, rm, rv, y16, mean, rstd);
    const Tensor xf = widen(x16);
    Tensor yf = Tensor::empty({rows, cols}), mean32 = Tensor::empty({cols}),
           rstd32 = Tensor::empty({cols});
    batchnorm_forward_train(xf, gamma, beta, p, rm32, rv32, yf, mean32, rstd32);
    EXPECT_EQ(bits(y16), bits(to_bf16(yf))) << "relu " << relu;
    EXPECT_EQ(mean.to_vector<float>(), mean32.to_vector<float>());
    EXPECT_EQ(rstd.to_vector<float>(), rstd32.to_vector<float>());
    EXPECT_EQ(rm.to_vector<float>(), rm32.to_vector<float>());
    EXPECT_EQ(rv.to_vector<float>(), rv32.to_vector<float>());
    size_t rounded = 0, nonzero = 0;
    const std::vector<float> yw = widen(y16).to_vector<float>(), yv = yf.to_vector<float>();
    for (size_t i = 0; i < yv.size(); ++i) {
      rounded += yw[i] != yv[i];
      nonzero += yv[i] != 0.0f;
    }
    EXPECT_GT(rounded, nonzero / 2) << "the bf16 store rounds";

    Tensor ye16 = Tensor::empty({rows, cols}, DType::bf16), yef = Tensor::empty({rows, cols});
    batchnorm_forward_eval(x16, gamma, beta, p, rm, rv, ye16);
    batchnorm_forward_eval(xf, gamma, beta, p, rm, rv, yef);
    EXPECT_EQ(bits(ye16), bits(to_bf16(yef)));

    Tensor dx16 = Tensor::empty({rows, cols}, DType::bf16), dg = Tensor::empty({cols}),
           db = Tensor::empty({cols});
    batchnorm_backward(dy16, x16, y16, gamma, mean, rstd, p, dx16, dg, db);
    Tensor dxf = Tensor::empty({rows, cols}), dg32 = Tensor::empty({cols}),
           db32 = Tensor::empty({cols});
    batchnorm_backward(widen(dy16), xf, widen(y16), gamma, mean, rstd, p, dxf, dg32, db32);
    EXPECT_EQ(bits(dx16), bits(to_bf16(dxf)));
    EXPECT_EQ(dg.to_vector<float>(), dg32.to_vector<float>());
    EXPECT_EQ(db.to_vector<float>(), db32.to_vector<float>());
  }
}

// A bf16 input side with a float32 output side (a bf16 convolution's output normalised for a
// float32 consumer, or a residual block's deferred normalisation): the same float32 twin.
TEST(CpuBatchNormBf16, MixedSidesAreTheFloatTwinToo) {
  const int64_t rows = 29, cols = 8;
  Rng rng(9);
  const Tensor x16 = to_bf16(random_f32(rng, {rows, cols}, 2.0)),
               dy = random_f32(rng, {rows, cols});
  const Tensor gamma = random_f32(rng, {cols}), beta = random_f32(rng, {cols});
  const BatchNormParams p{.relu = true};
  Tensor rm = Tensor::zeros({cols}), rv = Tensor::zeros({cols});
  Tensor y = Tensor::empty({rows, cols}), mean = Tensor::empty({cols}),
         rstd = Tensor::empty({cols});
  batchnorm_forward_train(x16, gamma, beta, p, rm, rv, y, mean, rstd);
  const Tensor xf = widen(x16);
  Tensor y32 = Tensor::empty({rows, cols});
  batchnorm_forward_train(xf, gamma, beta, p, rm, rv, y32, mean, rstd);
  EXPECT_EQ(y.to_vector<float>(), y32.to_vector<float>());
  Tensor dx16 = Tensor::empty({rows, cols}, DType::bf16), dg = Tensor::empty({cols}),
         db = Tensor::empty({cols});
  batchnorm_backward(dy, x16, y, gamma, mean, rstd, p, dx16, dg, db);
  Tensor dxf = Tensor::empty({rows, cols}), dg32 = Tensor::empty({cols}),
         db32 = Tensor::empty({cols});
  batchnorm_backward(dy, xf, y, gamma, mean, rstd, p, dxf, dg32, db32);
  EXPECT_EQ(bits(dx16), bits(to_bf16(dxf)));
  EXPECT_EQ(dg.to_vector<float>(), dg32.to_vector<float>());
}

TEST(CpuBatchNormBf16, DtypeRules) {
  const Tensor x = Tensor::zeros({4, 2}, DType::bf16), g = Tensor::zeros({2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::zeros({2}), m = Tensor::empty({2}),
         r = Tensor::empty({2});
  Tensor y = Tensor::empty({4, 2}, DType::bf16), y32 = Tensor::empty({4, 2});
  const BatchNormParams p{};
  batchnorm_forward_train(x, g, g, p, rm, rv, y, m, r);
  batchnorm_forward_train(x, g, g, p, rm, rv, y32, m, r);  // the sides may differ
  const Tensor x64 = Tensor::zeros({4, 2}, DType::f64);
  Tensor rm64 = Tensor::zeros({2}, DType::f64), rv64 = Tensor::zeros({2}, DType::f64),
         m64 = Tensor::empty({2}, DType::f64), r64 = Tensor::empty({2}, DType::f64);
  const Tensor g64 = Tensor::zeros({2}, DType::f64);
  EXPECT_THROW(batchnorm_forward_train(x64, g64, g64, p, rm64, rv64, y32, m64, r64),
               InternalError);  // float64 meets only float64
  const Tensor g16 = Tensor::zeros({2}, DType::bf16);
  EXPECT_THROW(batchnorm_forward_train(x, g16, g, p, rm, rv, y, m, r), InternalError);
  Tensor dx = Tensor::empty({4, 2}, DType::bf16), dx32 = Tensor::empty({4, 2});
  Tensor dg = Tensor::empty({2}), db = Tensor::empty({2});
  batchnorm_backward(x, x, y, g, m, r, p, dx, dg, db);
  EXPECT_THROW(batchnorm_backward(x, x, y, g, m, r, p, dx32, dg, db), InternalError);  // x vs dx
  batchnorm_backward(y32, x, y32, g, m, r, p, dx, dg, db);  // a float32 output side
  Tensor dg16 = Tensor::empty({2}, DType::bf16);
  EXPECT_THROW(batchnorm_backward(x, x, y, g, m, r, p, dx, dg16, db), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
