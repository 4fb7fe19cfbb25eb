// The token plumbing on the CPU: patchify on a hand-checked image and its inverse, class token +
// position embedding with its column-sum gradients, class-token selection, and the shape errors
// (patches that do not tile the image).
#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include "ops/transformer_ops.hpp"

namespace kasmina {
namespace {

std::vector<float> iota(int64_t n, float start = 0.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

// A 4x6 image with 2 channels, value = 100 y + 10 x + c, cut into 2x2 patches: 2 x 3 patches in
// row-major order, each (dy, dx, c).
TEST(Patchify, CutsRowMajorPatchesOfRowsColumnsChannels) {
  std::vector<float> img;
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 6; ++x) {
      for (int c = 0; c < 2; ++c) img.push_back(static_cast<float>(100 * y + 10 * x + c));
    }
  }
  const Tensor in = Tensor::from_vector(img, {1, 4, 6, 2});
  Tensor patches = Tensor::empty({1, 6, 8});
  ops::patchify_forward(in, 2, patches);
  const std::vector<float> p = patches.to_vector<float>();
  // Patch 0 (gy 0, gx 0) and patch 4 (gy 1, gx 1).
  EXPECT_EQ(std::vector<float>(p.begin(), p.begin() + 8),
            (std::vector<float>{0, 1, 10, 11, 100, 101, 110, 111}));
  EXPECT_EQ(std::vector<float>(p.begin() + 32, p.begin() + 40),
            (std::vector<float>{220, 221, 230, 231, 320, 321, 330, 331}));
  // The backward puts every element back where it came from.
  Tensor back = Tensor::empty({1, 4, 6, 2});
  ops::patchify_backward(patches, 2, back);
  EXPECT_EQ(back.to_vector<float>(), img);
}

TEST(Patchify, RefusesPatchesThatDoNotTileTheImage) {
  const Tensor img = Tensor::zeros({2, 28, 28, 1});
  Tensor patches = Tensor::empty({2, 16, 25});
  try {
    ops::patchify_forward(img, 5, patches);
    ADD_FAILURE() << "5x5 patches accepted on a 28x28 image";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("do not tile an image of 28x28"), std::string::npos)
        << e.what();
  }
  Tensor wrong = Tensor::empty({2, 49, 15});
  EXPECT_THROW(ops::patchify_forward(img, 4, wrong), InternalError);
}

TEST(TokensAssemble, PrependsTheClassTokenAndAddsPositions) {
  const Tensor x = Tensor::from_vector(iota(12, 1.0f), {2, 2, 3});  // 2 samples, 2 tokens, D 3
  const Tensor cls = Tensor::from_vector<float>({100, 200, 300}, {3});
  const Tensor pos = Tensor::from_vector<float>({0.5f, 0.5f, 0.5f, 10, 20, 30, -1, -2, -3}, {3, 3});
  Tensor y = Tensor::empty({2, 3, 3});
  ops::tokens_assemble_forward(x, cls, pos, y);
  EXPECT_EQ(y.to_vector<float>(),
            (std::vector<float>{100.5f, 200.5f, 300.5f, 11, 22, 33, 3, 3, 3,  //
                                100.5f, 200.5f, 300.5f, 17, 28, 39, 9, 9, 9}));
  // Backward: dx drops the class row; dpos sums over the batch; dcls is dpos's first row.
  const Tensor dy = Tensor::from_vector(iota(18), {2, 3, 3});
  Tensor dx = Tensor::empty({2, 2, 3}), dcls = Tensor::empty({3}), dpos = Tensor::empty({3, 3});
  ops::tokens_assemble_backward(dy, dx, &dcls, dpos);
  EXPECT_EQ(dx.to_vector<float>(), (std::vector<float>{3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 16, 17}));
  EXPECT_EQ(dpos.to_vector<float>(), (std::vector<float>{9, 11, 13, 15, 17, 19, 21, 23, 25}));
  EXPECT_EQ(dcls.to_vector<float>(), (std::vector<float>{9, 11, 13}));
}

TEST(TokensAssemble, WithoutClassTokenAddsPositionsOnly) {
  const Tensor x = Tensor::from_vector(iota(4), {2, 1, 2});
  const Tensor pos = Tensor::from_vector<float>({10, 20}, {1, 2});
  Tensor y = Tensor::empty({2, 1, 2});
  ops::tokens_assemble_forward(x, Tensor(), pos, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{10, 21, 12, 23}));
  Tensor dx = Tensor::empty({2, 1, 2}), dpos = Tensor::empty({1, 2});
  ops::tokens_assemble_backward(y, dx, nullptr, dpos);
  EXPECT_EQ(dx.to_vector<float>(), y.to_vector<float>());
  EXPECT_EQ(dpos.to_vector<float>(), (std::vector<float>{22, 44}));
  // A position table of the wrong length (T + 1 without a class token) is refused.
  Tensor long_pos = Tensor::zeros({2, 2});
  EXPECT_THROW(ops::tokens_assemble_forward(x, Tensor(), long_pos, y), InternalError);
}

TEST(SelectToken, TakesOneTokenAndScattersItsGradient) {
  const Tensor x = Tensor::from_vector(iota(12), {2, 3, 2});
  Tensor y = Tensor::empty({2, 2});
  ops::select_token_forward(x, 0, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 1, 6, 7}));
  ops::select_token_forward(x, 2, y);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{4, 5, 10, 11}));
  Tensor dx = Tensor::from_vector(std::vector<float>(12, 9.0f), {2, 3, 2});  // overwritten
  ops::select_token_backward(Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}), 0, dx);
  EXPECT_EQ(dx.to_vector<float>(), (std::vector<float>{1, 2, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0}));
  EXPECT_THROW(ops::select_token_forward(x, 3, y), InternalError);
}

}  // namespace
}  // namespace kasmina
