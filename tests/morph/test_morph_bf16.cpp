// morph_forward and morph_backward on bf16 activations (the CPU twins; the CUDA kernels against
// them are in the op table, tests/ops/cuda/entries_morph_bf16.cpp): the blueprint, the blend and
// the gradients computed in float32 on the widened values, out and dx rounded to bf16 once on the
// store, the statistics those of the bf16 values. So the bf16 ops are bit for bit the float32 ops
// on the widened x and dy, with out and dx rounded: that is what this file checks, on every stage
// mix, with the chunks the CUDA kernels take on their vector path (C % 8 == 0) and off it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/bf16.hpp"
#include "core/str_cat.hpp"
#include "morph_test_util.hpp"
#include "ops/morph/morph_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"

namespace kasmina::morph {
namespace {

using ops::bf16_test::to_bf16;
using testing::MixedStageLayer;

std::vector<float> widened(const Tensor& bf) {
  std::vector<float> v;
  for (const bf16 b : bf.to_vector<bf16>()) v.push_back(b.to_float());
  return v;
}

struct Shape {
  int32_t seeds, chunk;
  int64_t batch;
};

// Every element of `bf` is `want` rounded to bf16.
int64_t mismatches(const Tensor& bf, const std::vector<float>& want) {
  const bf16* got = bf.data<bf16>();
  int64_t n = 0;
  for (size_t i = 0; i < want.size(); ++i) n += got[i].bits != float_to_bf16_bits(want[i]);
  return n;
}

class MorphBf16 : public ::testing::TestWithParam<Shape> {};

TEST_P(MorphBf16, IsTheRoundedFloat32ForwardAndBackwardOfTheWidenedInput) {
  const Shape sh = GetParam();
  const uint64_t mix = static_cast<uint64_t>(sh.seeds) * 31 + sh.chunk;
  // Two layers with the same seeds: one runs float32, the other bf16.
  MixedStageLayer f32(sh.seeds, sh.chunk, sh.batch, Device::cpu(), mix);
  MixedStageLayer half(sh.seeds, sh.chunk, sh.batch, Device::cpu(), mix);
  const Tensor xb = to_bf16(testing::random_tensor<float>(f32.x.shape(), 77 + sh.batch));
  const Tensor xw = Tensor::from_vector(widened(xb), xb.shape());
  Tensor outb = Tensor::zeros(xb.shape(), DType::bf16);
  const ops::MorphForwardOptions opt;
  ops::morph_forward(f32.layer.buffers(), xw, f32.out, opt);
  ops::morph_forward(half.layer.buffers(), xb, outb, opt);

  const std::vector<float> x = widened(xb), out = widened(outb);
  EXPECT_EQ(mismatches(outb, f32.out.to_vector<float>()), 0);
  int64_t blended = 0;
  for (size_t i = 0; i < x.size(); ++i) blended += out[i] != x[i];
  EXPECT_GT(blended, 0) << "no seed blended: the mix does not test the blend";
  // The statistics of the same values, in the same order.
  EXPECT_EQ(f32.layer.buffers().step_stats.to_vector<float>(),
            half.layer.buffers().step_stats.to_vector<float>());
  EXPECT_EQ(f32.layer.buffers().telemetry.to_vector<double>(),
            half.layer.buffers().telemetry.to_vector<double>());

  // The backward of the same step: dx rounded, the gradients and their norms the same floats.
  const Tensor dyb =
      to_bf16(testing::random_tensor<float>(f32.x.shape(), 99 + sh.batch, Device::cpu(), 0.1));
  const Tensor dyw = Tensor::from_vector(widened(dyb), dyb.shape());
  Tensor dxb = Tensor::zeros(xb.shape(), DType::bf16);
  ops::morph_backward(f32.layer.buffers(), xw, dyw, &f32.dx, true);
  ops::morph_backward(half.layer.buffers(), xb, dyb, &dxb, true);
  EXPECT_EQ(mismatches(dxb, f32.dx.to_vector<float>()), 0);
  EXPECT_NE(widened(dxb), widened(dyb)) << "no seed blended in the backward";
  EXPECT_EQ(f32.layer.buffers().pool.to_vector<float>(),
            half.layer.buffers().pool.to_vector<float>());
  EXPECT_EQ(f32.layer.buffers().grad_norm.to_vector<float>(),
            half.layer.buffers().grad_norm.to_vector<float>());
  EXPECT_EQ(f32.layer.buffers().step_stats.to_vector<float>(),
            half.layer.buffers().step_stats.to_vector<float>());
  float norms = 0.0f;
  for (const float g : half.layer.buffers().grad_norm.to_vector<float>()) norms += g;
  EXPECT_GT(norms, 0.0f) << "no seed trained: the mix does not test the gradients";
}

INSTANTIATE_TEST_SUITE_P(Shapes, MorphBf16,
                         ::testing::Values(Shape{12, 16, 33}, Shape{9, 8, 5}, Shape{7, 12, 17},
                                           Shape{10, 3, 9}, Shape{5, 32, 1}),
                         [](const auto& i) {
                           return str_cat("S", i.param.seeds, "_C", i.param.chunk, "_B",
                                          i.param.batch);
                         });

TEST(MorphBf16Errors, RefusedWhereTheKernelsReadFloat) {
  MixedStageLayer l(4, 8, 3, Device::cpu(), 5);
  const Tensor xb = to_bf16(l.x);
  Tensor outb = Tensor::zeros(xb.shape(), DType::bf16);
  Tensor outf = Tensor::zeros(xb.shape());
  // out must have x's type.
  EXPECT_THROW(ops::morph_forward(l.layer.buffers(), xb, outf, {}), std::exception);
  // dy and dx of x's type.
  ops::morph_forward(l.layer.buffers(), xb, outb, {});
  EXPECT_THROW(ops::morph_backward(l.layer.buffers(), xb, l.dy, nullptr, true), std::exception);
  Tensor dxf = Tensor::zeros(xb.shape());
  EXPECT_THROW(ops::morph_backward(l.layer.buffers(), xb, to_bf16(l.dy), &dxf, true),
               std::exception);
  // A float64 layer (the gradient checks' twin) takes no bf16.
  KasminaLayer wide(testing::small_config(32, 4), DType::f64);
  wide.prepare(3, Device::cpu());
  const Tensor x32 = to_bf16(testing::random_tensor<float>({3, 32}, 3));
  Tensor o32 = Tensor::zeros({3, 32}, DType::bf16);
  try {
    ops::morph_forward(wide.buffers(), x32, o32, {});
    ADD_FAILURE() << "a float64 pool accepted bf16 activations";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("bf16 over a float32 pool"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kasmina::morph
