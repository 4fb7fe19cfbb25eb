// CPU pooling twins: max pooling's argmax and its tie rule (the first maximum in row-major window
// order; padding never wins), its backward accumulating overlapping windows, average pooling
// with count_include_pad, and global average pooling, all against hand-computed values.
#include <gtest/gtest.h>

#include <vector>

#include "op_test_utils.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops {
namespace {

TEST(CpuMaxPool, TiesGoToTheFirstPositionAndPaddingNeverWins) {
  // One image 3x3, 2 channels. Channel 0 all equal (every window ties), channel 1 negative.
  std::vector<float> v;
  for (int i = 0; i < 9; ++i) {
    v.push_back(7.0f);
    v.push_back(-1.0f - static_cast<float>(i));
  }
  const Tensor x = Tensor::from_vector(v, {1, 3, 3, 2});
  // kernel 2, stride 1, padding 1: output 4x4, windows overlap and hang over the edges.
  const Pool2dParams p{.kernel = 2, .stride = 1, .padding = 1};
  Tensor y = Tensor::empty({1, 4, 4, 2}), am = Tensor::empty({1, 4, 4, 2}, DType::i32);
  maxpool2d_forward(x, p, y, am);
  const std::vector<float> yv = y.to_vector<float>();
  const std::vector<int32_t> av = am.to_vector<int32_t>();
  for (int oh = 0; oh < 4; ++oh) {
    for (int ow = 0; ow < 4; ++ow) {
      const int o = (oh * 4 + ow) * 2;
      // First in-range position of the window [oh-1, oh] x [ow-1, ow].
      const int h0 = std::max(oh - 1, 0), w0 = std::max(ow - 1, 0);
      EXPECT_EQ(yv[o], 7.0f);
      EXPECT_EQ(av[o], h0 * 3 + w0) << oh << "," << ow;
      // Channel 1 decreases with the index: the first in-range position is also the maximum,
      // and it is negative (a padded zero would have won otherwise).
      EXPECT_EQ(yv[o + 1], -1.0f - static_cast<float>(h0 * 3 + w0));
      EXPECT_EQ(av[o + 1], h0 * 3 + w0);
    }
  }
  // Backward: every output's gradient lands on its argmax; position (0,0) wins the windows
  // (0,0), (0,1), (1,0), (1,1) of channel 0.
  std::vector<float> g(32);
  for (size_t i = 0; i < g.size(); ++i) g[i] = static_cast<float>(i + 1);
  Tensor dx = Tensor::empty({1, 3, 3, 2});
  maxpool2d_backward(Tensor::from_vector(g, {1, 4, 4, 2}), am, p, dx);
  const std::vector<float> dv = dx.to_vector<float>();
  std::vector<float> want(18, 0.0f);
  for (int o = 0; o < 32; ++o) want[static_cast<size_t>(av[o] * 2 + o % 2)] += g[o];
  EXPECT_EQ(dv, want);
  EXPECT_EQ(dv[0], g[0] + g[2] + g[8] + g[10]);
}

TEST(CpuMaxPool, StridedWindowsPickTheMaximum) {
  const Tensor x =
      Tensor::from_vector<double>({1, 5, 2, 0, 3, 4, 9, 8, 6, 7, 1, 2, 0, 0, 3, 3}, {1, 4, 4, 1});
  Tensor y = Tensor::empty({1, 2, 2, 1}, DType::f64), am = Tensor::empty({1, 2, 2, 1}, DType::i32);
  maxpool2d_forward(x, {.kernel = 2, .stride = 2}, y, am);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{5, 9, 7, 3}));
  // Window 3 is {0, 0, 3, 3}: the tie goes to the first 3 (index 14).
  EXPECT_EQ(am.to_vector<int32_t>(), (std::vector<int32_t>{1, 6, 9, 14}));
}

TEST(CpuAvgPool, CountIncludePadDividesByTheWholeWindow) {
  // 3x3 ones, kernel 3, stride 1, padding 1: corners see 4 ones, edges 6, the centre 9; all
  // divided by 9.
  const Tensor x = Tensor::from_vector<double>(std::vector<double>(9, 1.0), {1, 3, 3, 1});
  Tensor y = Tensor::empty({1, 3, 3, 1}, DType::f64);
  const Pool2dParams p{.kernel = 3, .stride = 1, .padding = 1};
  avgpool2d_forward(x, p, y);
  const std::vector<double> want = {4 / 9.0, 6 / 9.0, 4 / 9.0, 6 / 9.0, 1.0,
                                    6 / 9.0, 4 / 9.0, 6 / 9.0, 4 / 9.0};
  const std::vector<double> got = y.to_vector<double>();
  for (size_t i = 0; i < 9; ++i) EXPECT_NEAR(got[i], want[i], 1e-15) << i;
  // Backward of ones: each input receives 1/9 from every window covering it, the same counts.
  Tensor dx = Tensor::empty({1, 3, 3, 1}, DType::f64);
  avgpool2d_backward(x, p, dx);
  const std::vector<double> gd = dx.to_vector<double>();
  for (size_t i = 0; i < 9; ++i) EXPECT_NEAR(gd[i], want[i], 1e-15) << i;
}

TEST(CpuGlobalAvgPool, MeanOverTheMiddleDimension) {
  // [N=2, S=3, C=2]
  const Tensor x =
      Tensor::from_vector<float>({1, 10, 2, 20, 3, 30, -1, 0, -2, 0, -6, 3}, {2, 3, 2});
  Tensor y = Tensor::empty({2, 2});
  global_avgpool_forward(x, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{2, 20, -3, 1}));
  Tensor dx = Tensor::empty({2, 3, 2});
  global_avgpool_backward(Tensor::from_vector<float>({3, 6, -3, 0}, {2, 2}), dx);
  EXPECT_EQ(dx.to_vector<float>(), (std::vector<float>{1, 2, 1, 2, 1, 2, -1, 0, -1, 0, -1, 0}));
}

TEST(CpuPool, BadWindowsAreErrors) {
  const Tensor x = Tensor::zeros({1, 4, 4, 1});
  Tensor y = Tensor::empty({1, 2, 2, 1});
  // Padding above kernel / 2.
  EXPECT_THROW(avgpool2d_forward(x, {.kernel = 2, .stride = 2, .padding = 2}, y), InternalError);
  // Output shape wrong.
  EXPECT_THROW(avgpool2d_forward(x, {.kernel = 2, .stride = 1}, y), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
