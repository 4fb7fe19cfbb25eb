#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "tests/common/user_error.hpp"

using namespace kasmina;
using kasmina::testing::user_error_message;

namespace {

// Training accuracy of the least-squares linear classifier sign(w . [x, y, 1]) fitted to
// targets -1 / +1: the best a linear model with a squared loss does on the data.
double least_squares_linear_accuracy(const Dataset& d) {
  const std::vector<float> xy = d.images.to_vector<float>();
  const std::vector<int32_t> y = d.labels.to_vector<int32_t>();
  const int64_t n = d.size();
  // Normal equations A w = b with A = X^T X (3x3) and b = X^T t.
  std::array<std::array<double, 4>, 3> m{};  // augmented [A | b]
  for (int64_t i = 0; i < n; ++i) {
    const double row[3] = {xy[2 * i], xy[2 * i + 1], 1.0};
    const double t = y[i] == 1 ? 1.0 : -1.0;
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) m[r][c] += row[r] * row[c];
      m[r][3] += row[r] * t;
    }
  }
  for (int p = 0; p < 3; ++p) {  // Gauss-Jordan; A is symmetric positive definite here
    for (int r = 0; r < 3; ++r) {
      if (r == p) continue;
      const double f = m[r][p] / m[p][p];
      for (int c = p; c < 4; ++c) m[r][c] -= f * m[p][c];
    }
  }
  const double w[3] = {m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]};
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double score = w[0] * xy[2 * i] + w[1] * xy[2 * i + 1] + w[2];
    correct += (score > 0) == (y[i] == 1);
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

// Accuracy on `test` of the 1-nearest-neighbour rule over `train`: high when the classes are
// separated by a (non-linear) boundary.
double nearest_neighbour_accuracy(const Dataset& train, const Dataset& test) {
  const std::vector<float> a = train.images.to_vector<float>(), b = test.images.to_vector<float>();
  const std::vector<int32_t> ya = train.labels.to_vector<int32_t>();
  const std::vector<int32_t> yb = test.labels.to_vector<int32_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < test.size(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    int32_t label = -1;
    for (int64_t j = 0; j < train.size(); ++j) {
      const double dx = a[2 * j] - b[2 * i], dy = a[2 * j + 1] - b[2 * i + 1];
      const double d2 = dx * dx + dy * dy;
      if (d2 < best) best = d2, label = ya[j];
    }
    correct += label == yb[i];
  }
  return static_cast<double>(correct) / static_cast<double>(test.size());
}

}  // namespace

TEST(Spirals, ShapeBalanceAndRange) {
  const Dataset d = make_spirals(1001, 0.05, 1.5, 17, "train");
  EXPECT_EQ(d.name, "train");
  ASSERT_EQ(d.images.shape(), (Shape{1001, 2}));
  EXPECT_EQ(d.images.dtype(), DType::f32);
  EXPECT_EQ(d.labels.dtype(), DType::i32);
  EXPECT_EQ(d.num_classes, 2);
  EXPECT_EQ(d.scale, 1.0f);
  EXPECT_EQ(d.shift, 0.0f);
  int64_t ones = 0;
  for (int32_t y : d.labels.to_vector<int32_t>()) {
    ASSERT_TRUE(y == 0 || y == 1);
    ones += y;
  }
  EXPECT_EQ(ones, 500);  // 501 of class 0, 500 of class 1
  // Radius t < 1 plus noise of std 0.05: everything inside a disc of radius ~1.25.
  double max_radius = 0.0, mean_radius = 0.0;
  const auto xy = d.images.to_vector<float>();
  for (int64_t i = 0; i < 1001; ++i) {
    const double r = std::hypot(xy[2 * i], xy[2 * i + 1]);
    max_radius = std::max(max_radius, r);
    mean_radius += r / 1001;
  }
  EXPECT_LT(max_radius, 1.25);
  EXPECT_GT(max_radius, 0.9);
  EXPECT_NEAR(mean_radius, 0.5, 0.05);  // t ~ U[0, 1)
}

TEST(Spirals, DeterministicFromTheSeed) {
  const Dataset a = make_spirals(300, 0.1, 2.0, 5, "x");
  const Dataset b = make_spirals(300, 0.1, 2.0, 5, "x");
  const Dataset c = make_spirals(300, 0.1, 2.0, 6, "x");
  EXPECT_EQ(a.images.to_vector<float>(), b.images.to_vector<float>());
  EXPECT_EQ(a.labels.to_vector<int32_t>(), b.labels.to_vector<int32_t>());
  EXPECT_NE(a.images.to_vector<float>(), c.images.to_vector<float>());
}

TEST(Spirals, ArmsFollowTheArchimedeanSpiral) {
  // Without noise every point lies on its arm: angle = 2 pi turns r + pi label (mod 2 pi).
  const double turns = 1.5;
  const Dataset d = make_spirals(400, 0.0, turns, 8, "x");
  const auto xy = d.images.to_vector<float>();
  const auto y = d.labels.to_vector<int32_t>();
  for (int64_t i = 0; i < 400; ++i) {
    const double r = std::hypot(xy[2 * i], xy[2 * i + 1]);
    if (r < 1e-3) continue;  // the angle of a point at the centre is meaningless
    const double expected = 2 * M_PI * turns * r + M_PI * y[i];
    const double diff = std::remainder(std::atan2(xy[2 * i + 1], xy[2 * i]) - expected, 2 * M_PI);
    EXPECT_NEAR(diff, 0.0, 1e-4) << "sample " << i;
  }
}

TEST(Spirals, NotLinearlySeparableButLearnable) {
  const Dataset train = make_spirals(2000, 0.05, 1.5, 101, "train");
  const Dataset test = make_spirals(1000, 0.05, 1.5, 102, "test");
  const double linear = least_squares_linear_accuracy(train);
  const double nearest = nearest_neighbour_accuracy(train, test);
  EXPECT_LT(linear, 0.7) << "a linear classifier should fit two interleaved spirals poorly";
  EXPECT_GT(nearest, 0.95) << "the arms should be well separated at noise 0.05";
}

TEST(Spirals, LoadDataCarvesValidationAndDrawsTestIndependently) {
  DataConfig cfg;
  cfg.dataset = DatasetKind::spirals;
  cfg.spirals_train = 600;
  cfg.spirals_test = 200;
  cfg.validation = 100;
  const DataSplits s = load_data(cfg, 4);
  EXPECT_EQ(s.train.size(), 500);
  EXPECT_EQ(s.validation.size(), 100);
  EXPECT_EQ(s.test.size(), 200);
  EXPECT_EQ(s.train.features(), 2);
  EXPECT_EQ(s.validation.num_classes, 2);
  EXPECT_EQ(s.validation.scale, 1.0f);
  EXPECT_EQ(s.test.shift, 0.0f);
  EXPECT_EQ(s.description,
            "spirals: 500 train, 100 validation, 200 test, 2 features, 2 classes; 1.5 turns, "
            "noise 0.05");

  // Train and validation together are exactly the generated training set.
  const Dataset full = make_spirals(600, cfg.spirals_noise, cfg.spirals_turns,
                                    derive_seed(4, "data.spirals.train"), "train");
  const auto all = full.images.to_vector<float>();
  const auto tr = s.train.images.to_vector<float>(), va = s.validation.images.to_vector<float>();
  std::vector<float> joined = tr;
  joined.insert(joined.end(), va.begin(), va.end());
  std::vector<std::pair<float, float>> a, b;
  for (size_t i = 0; i < all.size(); i += 2) a.emplace_back(all[i], all[i + 1]);
  for (size_t i = 0; i < joined.size(); i += 2) b.emplace_back(joined[i], joined[i + 1]);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);

  // The test set is a different draw, and the whole thing repeats for the same seed.
  EXPECT_NE(std::vector<float>(all.begin(), all.begin() + 400), s.test.images.to_vector<float>());
  const DataSplits again = load_data(cfg, 4);
  EXPECT_EQ(again.validation.images.to_vector<float>(), va);
  EXPECT_EQ(again.test.images.to_vector<float>(), s.test.images.to_vector<float>());
}

TEST(Spirals, BadSettingsAreUserErrors) {
  DataConfig cfg;
  cfg.dataset = DatasetKind::spirals;
  cfg.spirals_train = 1;
  EXPECT_EQ(user_error_message([&] { load_data(cfg, 1); }),
            "data.spirals_train: 1 (allowed: at least 2, one point per class)");
  cfg.spirals_train = 100;
  cfg.spirals_noise = -0.5;
  EXPECT_EQ(user_error_message([&] { load_data(cfg, 1); }),
            "data.spirals_noise: -0.5 (allowed: a finite value >= 0)");
  cfg.spirals_noise = 0.1;
  cfg.spirals_turns = 0;
  EXPECT_EQ(user_error_message([&] { load_data(cfg, 1); }),
            "data.spirals_turns: 0 (allowed: a finite value > 0)");
}
