// ops::OutputWalk (the one-channel convolution kernels' row lanes): every position it visits is
// the one the divisions give, for strides smaller and larger than a row and than an image.
#include <gtest/gtest.h>

#include <random>

#include "ops/output_walk.hpp"

namespace kasmina::ops {
namespace {

TEST(OutputWalk, VisitsThePositionsTheDivisionsGive) {
  std::mt19937 rng(20261205);
  std::uniform_int_distribution<int> size(1, 30), steps(1, 2000);
  for (int trial = 0; trial < 300; ++trial) {
    const int ho = size(rng), wo = size(rng), n = size(rng);
    const int step = trial < 5 ? trial + 1 : steps(rng);  // 1..5, then up to several images
    const int total = n * ho * wo;
    const int start = std::uniform_int_distribution<int>(0, total - 1)(rng);
    OutputWalk at(start, step, ho, wo);
    for (int r = start; r < total; r += step, at.advance()) {
      ASSERT_EQ(at.b, r / (ho * wo))
          << "r " << r << " step " << step << " ho " << ho << " wo " << wo;
      ASSERT_EQ(at.oh, (r / wo) % ho) << "r " << r << " step " << step;
      ASSERT_EQ(at.ow, r % wo) << "r " << r << " step " << step;
    }
  }
}

TEST(OutputWalk, TheReferenceStemsLanes) {
  // The ResNet stem's weight gradient: 28x28 outputs, 8 row lanes of 32 channels.
  OutputWalk at(5, 8, 28, 28);
  EXPECT_EQ(at.b, 0);
  EXPECT_EQ(at.oh, 0);
  EXPECT_EQ(at.ow, 5);
  for (int i = 0; i < 98; ++i) at.advance();  // 5 + 784 = the second image's position 5
  EXPECT_EQ(at.b, 1);
  EXPECT_EQ(at.oh, 0);
  EXPECT_EQ(at.ow, 5);
  at.advance();
  EXPECT_EQ(at.oh, 0);
  EXPECT_EQ(at.ow, 13);
}

}  // namespace
}  // namespace kasmina::ops
