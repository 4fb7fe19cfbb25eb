#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "data/dataset.hpp"
#include "idx_files.hpp"
#include "tests/common/user_error.hpp"

using namespace kasmina;
namespace dt = kasmina::datatest;
using dt::ScratchDir;
using kasmina::testing::user_error_message;

namespace {

// A miniature Fashion-MNIST directory: random pixels and labels in the four standard files.
struct FakeFashionMnist {
  std::vector<uint8_t> train_images, train_labels, test_images, test_labels;
  int64_t train_n, test_n;

  FakeFashionMnist(const ScratchDir& dir, uint32_t train, uint32_t test, uint64_t seed,
                   bool gzip = true)
      : train_images(dt::random_bytes(size_t{train} * 784, seed)),
        train_labels(dt::random_bytes(train, seed + 1, 10)),
        test_images(dt::random_bytes(size_t{test} * 784, seed + 2)),
        test_labels(dt::random_bytes(test, seed + 3, 10)),
        train_n(train),
        test_n(test) {
    dt::write_idx(dir.file("train-images-idx3-ubyte.gz"), {train, 28, 28}, train_images, gzip);
    dt::write_idx(dir.file("train-labels-idx1-ubyte.gz"), {train}, train_labels, gzip);
    dt::write_idx(dir.file("t10k-images-idx3-ubyte.gz"), {test, 28, 28}, test_images, gzip);
    dt::write_idx(dir.file("t10k-labels-idx1-ubyte.gz"), {test}, test_labels, gzip);
  }
};

DataConfig fashion_config(const ScratchDir& dir, int64_t validation, bool normalize) {
  DataConfig cfg;
  cfg.dataset = DatasetKind::fashion_mnist;
  cfg.dir = dir.path().string();
  cfg.validation = validation;
  cfg.normalize = normalize;
  return cfg;
}

std::vector<int32_t> as_int32(const std::vector<uint8_t>& v) {
  return {v.begin(), v.end()};
}

// Mean and population std of images * scale + shift, in double.
std::pair<double, double> normalized_moments(const Dataset& d) {
  const uint8_t* p = d.images.data<uint8_t>();
  const int64_t n = d.images.numel();
  double sum = 0.0, squares = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(p[i]) * d.scale + d.shift;
    sum += x;
    squares += x * x;
  }
  const double mean = sum / static_cast<double>(n);
  return {mean, std::sqrt(squares / static_cast<double>(n) - mean * mean)};
}

// The Fashion-MNIST directory of this machine, or empty when it has none.
std::string real_data_dir() {
  const char* env = std::getenv("KASMINA_DATA_DIR");
  const std::string dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
  return std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte.gz") ? dir
                                                                                            : "";
}

}  // namespace

TEST(FashionMnist, LoadsTheFilesExactly) {
  for (bool gzip : {true, false}) {
    ScratchDir dir;
    const FakeFashionMnist fake(dir, 50, 20, 100, gzip);
    const DataSplits s = load_data(fashion_config(dir, 0, false), 7);

    EXPECT_EQ(s.train.name, "train");
    EXPECT_EQ(s.test.name, "test");
    EXPECT_EQ(s.validation.name, "validation");
    ASSERT_EQ(s.train.images.shape(), (Shape{50, 784}));
    EXPECT_EQ(s.train.images.dtype(), DType::u8);
    EXPECT_TRUE(s.train.images.device().is_cpu());
    EXPECT_EQ(s.train.images.to_vector<uint8_t>(), fake.train_images);
    ASSERT_EQ(s.train.labels.shape(), (Shape{50}));
    EXPECT_EQ(s.train.labels.to_vector<int32_t>(), as_int32(fake.train_labels));
    EXPECT_EQ(s.test.images.to_vector<uint8_t>(), fake.test_images);
    EXPECT_EQ(s.test.labels.to_vector<int32_t>(), as_int32(fake.test_labels));
    EXPECT_EQ(s.validation.size(), 0);
    EXPECT_EQ(s.train.num_classes, 10);
    EXPECT_EQ(s.test.features(), 784);
    // Without normalisation pixels map to [0, 1].
    for (const Dataset* d : {&s.train, &s.validation, &s.test}) {
      EXPECT_FLOAT_EQ(d->scale, 1.0f / 255.0f);
      EXPECT_EQ(d->shift, 0.0f);
    }
    EXPECT_EQ(s.description, "fashion_mnist from " + dir.path().string() +
                                 ": 50 train, 0 validation, 20 test, 784 features, 10 classes; "
                                 "pixels scaled to [0, 1]");
  }
}

TEST(FashionMnist, NormalizesWithTrainingStatistics) {
  ScratchDir dir;
  const FakeFashionMnist fake(dir, 60, 15, 200);
  const DataSplits s = load_data(fashion_config(dir, 10, true), 3);
  const auto [mean, std] = normalized_moments(s.train);
  EXPECT_NEAR(mean, 0.0, 1e-5);
  EXPECT_NEAR(std, 1.0, 1e-5);
  // The same (training) statistics for every split.
  for (const Dataset* d : {&s.validation, &s.test}) {
    EXPECT_EQ(d->scale, s.train.scale);
    EXPECT_EQ(d->shift, s.train.shift);
  }
  // Statistics of the training split after carving: not those of all 60 images.
  double all_sum = 0.0;
  for (uint8_t p : fake.train_images) all_sum += p / 255.0;
  const double all_mean = all_sum / static_cast<double>(fake.train_images.size());
  double train_sum = 0.0;
  for (uint8_t p : s.train.images.to_vector<uint8_t>()) train_sum += p / 255.0;
  const double train_mean = train_sum / static_cast<double>(s.train.images.numel());
  EXPECT_NE(all_mean, train_mean);
  // shift = -mean / std and scale = 1 / (255 std) together give mean = -shift / (255 scale).
  EXPECT_NEAR(-s.train.shift / (255.0 * s.train.scale), train_mean, 1e-6);
}

TEST(FashionMnist, ValidationIsADisjointDeterministicCarveOfTrain) {
  ScratchDir dir;
  const FakeFashionMnist fake(dir, 50, 20, 300);
  const DataSplits a = load_data(fashion_config(dir, 12, false), 5);
  const DataSplits b = load_data(fashion_config(dir, 12, false), 5);
  const DataSplits c = load_data(fashion_config(dir, 12, false), 6);
  ASSERT_EQ(a.train.size(), 38);
  ASSERT_EQ(a.validation.size(), 12);
  EXPECT_EQ(a.validation.images.shape(), (Shape{12, 784}));
  EXPECT_EQ(a.test.size(), 20);
  EXPECT_EQ(a.validation.num_classes, 10);
  EXPECT_EQ(a.train.images.to_vector<uint8_t>(), b.train.images.to_vector<uint8_t>());
  EXPECT_EQ(a.validation.labels.to_vector<int32_t>(), b.validation.labels.to_vector<int32_t>());
  EXPECT_NE(a.validation.images.to_vector<uint8_t>(), c.validation.images.to_vector<uint8_t>());

  // Every original sample lands in exactly one split, in ascending original order. Random
  // 784-byte images are unique, so each row identifies its source index.
  auto source_index = [&](const uint8_t* row) -> int64_t {
    for (int64_t i = 0; i < fake.train_n; ++i)
      if (std::equal(row, row + 784, fake.train_images.begin() + i * 784)) return i;
    return -1;
  };
  std::vector<int> seen(static_cast<size_t>(fake.train_n), 0);
  for (const Dataset* d : {&a.train, &a.validation}) {
    int64_t previous = -1;
    const uint8_t* images = d->images.data<uint8_t>();
    const int32_t* labels = d->labels.data<int32_t>();
    for (int64_t r = 0; r < d->size(); ++r) {
      const int64_t i = source_index(images + r * 784);
      ASSERT_GE(i, 0);
      EXPECT_GT(i, previous);
      previous = i;
      EXPECT_EQ(labels[r], fake.train_labels[static_cast<size_t>(i)]);
      ++seen[static_cast<size_t>(i)];
    }
  }
  for (int count : seen) EXPECT_EQ(count, 1);
  EXPECT_EQ(
      a.description.substr(a.description.find(": ")),
      ": 38 train, 12 validation, 20 test, 784 features, 10 classes; pixels scaled to [0, 1]");
}

TEST(FashionMnist, ValidationLargerThanTrainIsAUserError) {
  ScratchDir dir;
  const FakeFashionMnist fake(dir, 30, 5, 400);
  EXPECT_EQ(user_error_message([&] { load_data(fashion_config(dir, 30, true), 1); }),
            "data.validation: 30 samples requested, but fashion_mnist has 30 training samples "
            "(allowed: 0..29, at least one sample must stay for training)");
}

TEST(FashionMnist, LabelImageCountMismatchNamesBothFiles) {
  ScratchDir dir;
  const FakeFashionMnist fake(dir, 30, 5, 500);
  dt::write_idx(dir.file("t10k-labels-idx1-ubyte.gz"), {4}, {1, 2, 3, 4}, true);
  EXPECT_EQ(user_error_message([&] { load_data(fashion_config(dir, 0, true), 1); }),
            dir.file("t10k-labels-idx1-ubyte.gz") + ": holds 4 labels, but " +
                dir.file("t10k-images-idx3-ubyte.gz") + " holds 5 images");
}

TEST(FashionMnist, OutOfRangeLabelIsNamed) {
  ScratchDir dir;
  const FakeFashionMnist fake(dir, 30, 5, 600);
  std::vector<uint8_t> labels = fake.train_labels;
  labels[17] = 10;
  dt::write_idx(dir.file("train-labels-idx1-ubyte.gz"), {30}, labels, true);
  EXPECT_EQ(user_error_message([&] { load_data(fashion_config(dir, 0, true), 1); }),
            dir.file("train-labels-idx1-ubyte.gz") +
                ": label 10 of sample 17 is out of range (allowed: 0..9)");
}

TEST(FashionMnist, WrongImageSizeAndLabelShapeAreNamed) {
  ScratchDir dir;
  const FakeFashionMnist fake(dir, 30, 5, 700);
  dt::write_idx(dir.file("train-images-idx3-ubyte.gz"), {30, 27, 28},
                dt::random_bytes(30 * 27 * 28, 1), true);
  EXPECT_EQ(
      user_error_message([&] { load_data(fashion_config(dir, 0, true), 1); }),
      dir.file("train-images-idx3-ubyte.gz") +
          ": expected images of 28x28 pixels (IDX dims [N, 28, 28]), found dims [30, 27, 28]");

  const FakeFashionMnist again(dir, 30, 5, 700);
  dt::write_idx(dir.file("train-labels-idx1-ubyte.gz"), {30, 1}, fake.train_labels, true);
  EXPECT_EQ(user_error_message([&] { load_data(fashion_config(dir, 0, true), 1); }),
            dir.file("train-labels-idx1-ubyte.gz") +
                ": expected a 1-d array of labels (IDX dims [N]), found dims [30, 1]");
}

TEST(FashionMnist, MissingDirectoryNamesTheFirstFile) {
  ScratchDir dir;
  DataConfig cfg = fashion_config(dir, 0, true);
  cfg.dir = (dir.path() / "nowhere").string();
  const std::string msg = user_error_message([&] { load_data(cfg, 1); });
  EXPECT_EQ(msg, cfg.dir +
                     "/train-images-idx3-ubyte.gz: no such file; set data.dir in the "
                     "config, --data-dir or KASMINA_DATA_DIR");
}

TEST(FashionMnist, ConstantPixelsCannotBeNormalized) {
  ScratchDir dir;
  const FakeFashionMnist fake(dir, 10, 5, 800);
  dt::write_idx(dir.file("train-images-idx3-ubyte.gz"), {10, 28, 28},
                std::vector<uint8_t>(10 * 784, 42), true);
  EXPECT_CONTAINS(user_error_message([&] { load_data(fashion_config(dir, 0, true), 1); }),
                  "set data.normalize: false");
  EXPECT_NO_THROW(load_data(fashion_config(dir, 0, false), 1));
}

TEST(FashionMnistReal, SizesClassesAndNormalization) {
  const std::string dir = real_data_dir();
  if (dir.empty())
    GTEST_SKIP() << "Fashion-MNIST not found (set KASMINA_DATA_DIR to the directory holding "
                    "train-images-idx3-ubyte.gz)";
  DataConfig cfg;
  cfg.dir = dir;
  cfg.validation = 0;
  cfg.normalize = true;
  const DataSplits s = load_data(cfg, 1);
  ASSERT_EQ(s.train.images.shape(), (Shape{60000, 784}));
  ASSERT_EQ(s.test.images.shape(), (Shape{10000, 784}));
  EXPECT_EQ(s.test.size(), 10000);

  std::array<int64_t, 10> train_histogram{}, test_histogram{};
  for (int32_t y : s.train.labels.to_vector<int32_t>()) ++train_histogram.at(y);
  for (int32_t y : s.test.labels.to_vector<int32_t>()) ++test_histogram.at(y);
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(train_histogram[c], 6000) << "class " << c;
    EXPECT_EQ(test_histogram[c], 1000) << "class " << c;
  }
  const auto [mean, std] = normalized_moments(s.train);
  EXPECT_NEAR(mean, 0.0, 1e-4);
  EXPECT_NEAR(std, 1.0, 1e-4);
  // The published statistics of the Fashion-MNIST training pixels.
  EXPECT_NEAR(-s.train.shift / (255.0 * s.train.scale), 0.2860, 1e-3);
  EXPECT_NEAR(1.0 / (255.0 * s.train.scale), 0.3530, 1e-3);
  // Test pixels follow nearly the same distribution.
  const auto [test_mean, test_std] = normalized_moments(s.test);
  EXPECT_NEAR(test_mean, 0.0, 0.02);
  EXPECT_NEAR(test_std, 1.0, 0.02);

  cfg.validation = 5000;
  const DataSplits v = load_data(cfg, 1);
  EXPECT_EQ(v.train.size(), 55000);
  EXPECT_EQ(v.validation.size(), 5000);
  const std::string prefix = "fashion_mnist from " + dir +
                             ": 55000 train, 5000 validation, 10000 test, 784 features, 10 "
                             "classes; pixels standardized with train mean 0.28";
  EXPECT_EQ(v.description.substr(0, prefix.size()), prefix);
  EXPECT_CONTAINS(v.description, ", std 0.35");
}
