// morph_forward on bf16 activations (the CPU twin; the CUDA kernels against it are in the op
// table, tests/ops/cuda/entries_morph_bf16.cpp): the blueprint and the blend computed in float32
// on the widened values and rounded to bf16 once on the store, the statistics those of the bf16
// values. So the bf16 forward is bit for bit the float32 forward of the widened input, rounded:
// that is what this file checks, on every stage mix, with the chunks the CUDA kernels take on
// their vector path (C % 8 == 0) and off it.
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

class MorphForwardBf16 : public ::testing::TestWithParam<Shape> {};

TEST_P(MorphForwardBf16, IsTheRoundedFloat32ForwardOfTheWidenedInput) {
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

  const std::vector<float> want = f32.out.to_vector<float>();
  const bf16* got = outb.data<bf16>();
  const std::vector<float> x = widened(xb);
  int64_t mismatched = 0, blended = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    mismatched += got[i].bits != float_to_bf16_bits(want[i]);
    blended += got[i].to_float() != x[i];
  }
  EXPECT_EQ(mismatched, 0);
  EXPECT_GT(blended, 0) << "no seed blended: the mix does not test the blend";
  // The statistics of the same values, in the same order.
  EXPECT_EQ(f32.layer.buffers().step_stats.to_vector<float>(),
            half.layer.buffers().step_stats.to_vector<float>());
  EXPECT_EQ(f32.layer.buffers().telemetry.to_vector<double>(),
            half.layer.buffers().telemetry.to_vector<double>());
}

INSTANTIATE_TEST_SUITE_P(Shapes, MorphForwardBf16,
                         ::testing::Values(Shape{12, 16, 33}, Shape{9, 8, 5}, Shape{7, 12, 17},
                                           Shape{10, 3, 9}, Shape{5, 32, 1}),
                         [](const auto& i) {
                           return str_cat("S", i.param.seeds, "_C", i.param.chunk, "_B",
                                          i.param.batch);
                         });

TEST(MorphForwardBf16Errors, RefusedWhereTheKernelsReadFloat) {
  MixedStageLayer l(4, 8, 3, Device::cpu(), 5);
  const Tensor xb = to_bf16(l.x);
  Tensor outb = Tensor::zeros(xb.shape(), DType::bf16);
  Tensor outf = Tensor::zeros(xb.shape());
  // out must have x's type.
  EXPECT_THROW(ops::morph_forward(l.layer.buffers(), xb, outf, {}), std::exception);
  // The backward takes the pool's type only.
  ops::morph_forward(l.layer.buffers(), xb, outb, {});
  EXPECT_THROW(ops::morph_backward(l.layer.buffers(), xb, to_bf16(l.dy), nullptr, true),
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
