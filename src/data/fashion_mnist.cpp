// Fashion-MNIST: 28x28 greyscale images in 10 classes, stored as IDX files.
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>

#include "core/error.hpp"
#include "data/loaders.hpp"
#include "data/normalization.hpp"
#include "data/splits.hpp"

namespace kasmina::data {

namespace {

constexpr int64_t kSide = 28;
constexpr int64_t kClasses = 10;
// Samples one file may hold: far above Fashion-MNIST's 60000 and 10000 (and MNIST-shaped sets
// such as EMNIST's 697932), so a header that declares more is refused before its data is
// inflated (1000000 images are 784 MB).
constexpr int64_t kMaxSamples = 1'000'000;

const IdxShape kImageShape{
    {kSide, kSide}, kMaxSamples, "images of 28x28 pixels (IDX dims [N, 28, 28])", "images"};
const IdxShape kLabelShape{{}, kMaxSamples, "a 1-d array of labels (IDX dims [N])", "labels"};

// One split from its image and label files, checked against each other.
Dataset read_split(const std::string& images_path, const std::string& labels_path,
                   const std::string& name) {
  IdxArray images = read_idx(images_path, kImageShape);
  IdxArray labels = read_idx(labels_path, kLabelShape);
  const int64_t n = images.dims[0];
  if (labels.dims[0] != n)
    throw UserError(labels_path + ": holds " + std::to_string(labels.dims[0]) + " labels, but " +
                    images_path + " holds " + std::to_string(n) + " images");
  if (n == 0) throw UserError(images_path + ": holds no images");

  std::vector<int32_t> label_values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t y = labels.data[static_cast<size_t>(i)];
    if (y >= kClasses)
      throw UserError(labels_path + ": label " + std::to_string(y) + " of sample " +
                      std::to_string(i) + " is out of range (allowed: 0.." +
                      std::to_string(kClasses - 1) + ")");
    label_values[static_cast<size_t>(i)] = y;
  }

  Dataset d;
  d.name = name;
  d.num_classes = kClasses;
  d.images = Tensor::from_vector(images.data, {n, kSide * kSide});
  d.labels = Tensor::from_vector(label_values, {n});
  return d;
}

std::string fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

DataSplits load_fashion_mnist(const DataConfig& cfg, uint64_t seed,
                              const TrainSizeCheck& check_train_size) {
  const std::filesystem::path dir(cfg.dir);
  auto file = [&](const char* name) { return (dir / name).string(); };

  // The test files are inflated on a second thread while the (larger) training files are
  // read here. An error in the training files is reported first, whatever happens to the test
  // files, so messages do not depend on timing.
  std::future<Dataset> test =
      std::async(std::launch::async, read_split, file("t10k-images-idx3-ubyte.gz"),
                 file("t10k-labels-idx1-ubyte.gz"), std::string("test"));
  DataSplits s;
  s.train =
      read_split(file("train-images-idx3-ubyte.gz"), file("train-labels-idx1-ubyte.gz"), "train");
  s.test = test.get();
  if (check_train_size) check_train_size(s.train.size(), file("train-images-idx3-ubyte.gz"));
  s.validation = carve_validation(s.train, cfg.validation, seed, "fashion_mnist");

  std::string normalisation;
  Affine affine = unit_range_affine();
  if (cfg.normalize) {
    const PixelStatistics stats = pixel_statistics(s.train.images);
    affine = standardizing_affine(stats, file("train-images-idx3-ubyte.gz"));
    normalisation =
        "pixels standardized with train mean " + fixed4(stats.mean) + ", std " + fixed4(stats.std);
  } else {
    normalisation = "pixels scaled to [0, 1]";
  }
  for (Dataset* d : {&s.train, &s.validation, &s.test}) {
    d->scale = affine.scale;
    d->shift = affine.shift;
  }
  s.description = "fashion_mnist from " + cfg.dir + ": " + std::to_string(s.train.size()) +
                  " train, " + std::to_string(s.validation.size()) + " validation, " +
                  std::to_string(s.test.size()) + " test, " + std::to_string(s.train.features()) +
                  " features, " + std::to_string(kClasses) + " classes; " + normalisation;
  return s;
}

}  // namespace kasmina::data
