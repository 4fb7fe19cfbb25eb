#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "data/dataset.hpp"
#include "data/normalization.hpp"
#include "data/splits.hpp"
#include "tests/common/user_error.hpp"

using namespace kasmina;
using kasmina::testing::user_error_message;

namespace {

bool is_permutation_of_range(std::vector<int32_t> p) {
  std::sort(p.begin(), p.end());
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int32_t>(i)) return false;
  return true;
}

}  // namespace

TEST(EpochPermutation, DeterministicPerSeedAndEpoch) {
  const auto a = epoch_permutation(42, 3, 1000);
  EXPECT_EQ(a.size(), 1000u);
  EXPECT_TRUE(is_permutation_of_range(a));
  EXPECT_EQ(a, epoch_permutation(42, 3, 1000));
  EXPECT_NE(a, epoch_permutation(42, 4, 1000));
  EXPECT_NE(a, epoch_permutation(43, 3, 1000));
  // A real shuffle: far from the identity (expected fixed points: 1).
  int fixed = 0;
  for (size_t i = 0; i < a.size(); ++i) fixed += a[i] == static_cast<int32_t>(i);
  EXPECT_LT(fixed, 10);
}

TEST(EpochPermutation, EpochsDifferPairwise) {
  std::vector<std::vector<int32_t>> orders;
  for (int64_t e = 0; e < 20; ++e) orders.push_back(epoch_permutation(7, e, 500));
  for (size_t i = 0; i < orders.size(); ++i)
    for (size_t j = i + 1; j < orders.size(); ++j) EXPECT_NE(orders[i], orders[j]) << i << " " << j;
}

TEST(EpochPermutation, EdgeSizes) {
  EXPECT_TRUE(epoch_permutation(1, 0, 0).empty());
  EXPECT_EQ(epoch_permutation(1, 0, 1), (std::vector<int32_t>{0}));
  EXPECT_THROW(epoch_permutation(1, -1, 10), InternalError);
}

TEST(ValidationIndices, DisjointSortedCoveringAndSeeded) {
  const auto s = data::validation_indices(9, 1000, 150, "test");
  ASSERT_EQ(s.train.size(), 850u);
  ASSERT_EQ(s.validation.size(), 150u);
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  EXPECT_TRUE(std::is_sorted(s.validation.begin(), s.validation.end()));
  std::vector<int32_t> all = s.train;
  all.insert(all.end(), s.validation.begin(), s.validation.end());
  EXPECT_TRUE(is_permutation_of_range(all));  // disjoint and covering

  const auto again = data::validation_indices(9, 1000, 150, "test");
  EXPECT_EQ(s.validation, again.validation);
  EXPECT_NE(s.validation, data::validation_indices(10, 1000, 150, "test").validation);
  // Spread over the whole range, not a block at one end.
  EXPECT_LT(s.validation.front(), 100);
  EXPECT_GT(s.validation.back(), 900);

  const auto none = data::validation_indices(9, 5, 0, "test");
  EXPECT_EQ(none.train, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(none.validation.empty());
}

TEST(ValidationIndices, OutOfRangeIsAUserError) {
  EXPECT_EQ(user_error_message([] { data::validation_indices(1, 10, -1, "spirals"); }),
            "data.validation: -1 samples requested, but spirals has 10 training samples "
            "(allowed: 0..9, at least one sample must stay for training)");
  EXPECT_CONTAINS(user_error_message([] { data::validation_indices(1, 10, 11, "spirals"); }),
                  "data.validation: 11 samples requested");
}

TEST(GatherRows, CopiesTheChosenRowsOfAnyDtype) {
  const Tensor f = Tensor::from_vector<float>({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  EXPECT_EQ(data::gather_rows(f, {3, 0}).to_vector<float>(), (std::vector<float>{30, 31, 0, 1}));
  const Tensor l = Tensor::from_vector<int32_t>({5, 6, 7}, {3});
  const Tensor g = data::gather_rows(l, {2, 2, 1});
  EXPECT_EQ(g.shape(), (Shape{3}));
  EXPECT_EQ(g.to_vector<int32_t>(), (std::vector<int32_t>{7, 7, 6}));
  EXPECT_EQ(data::gather_rows(f, {}).shape(), (Shape{0, 2}));
  EXPECT_THROW(data::gather_rows(l, {3}), InternalError);
}

TEST(PixelStatistics, MatchesDirectComputation) {
  const std::vector<uint8_t> pixels = {0, 255, 51, 102, 102, 204, 17, 0, 3};
  const auto s = data::pixel_statistics(Tensor::from_vector(pixels, {3, 3}));
  double mean = 0.0;
  for (uint8_t p : pixels) mean += p / 255.0;
  mean /= pixels.size();
  double var = 0.0;
  for (uint8_t p : pixels) var += (p / 255.0 - mean) * (p / 255.0 - mean);
  var /= pixels.size();
  EXPECT_NEAR(s.mean, mean, 1e-15);
  EXPECT_NEAR(s.std, std::sqrt(var), 1e-15);
  const auto affine = data::standardizing_affine(s, "x");
  EXPECT_NEAR(255 * affine.scale * s.std, 1.0, 1e-6);
  EXPECT_NEAR(affine.shift, -mean / std::sqrt(var), 1e-6);
}
