// Datasets held in host memory as whole tensors; the trainer uploads them to the training
// device once and gathers batches there.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/tensor.hpp"

namespace kasmina {

struct Dataset {
  std::string name;  // "train", "validation", "test"
  Tensor images;     // [N, D] on the CPU: uint8 pixels (Fashion-MNIST) or float32 (spirals)
  Tensor labels;     // [N] int32 in [0, num_classes)
  int64_t num_classes = 0;
  // Normalisation applied when a batch is gathered: x = images * scale + shift.
  float scale = 1.0f;
  float shift = 0.0f;
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
  int64_t features() const { return images.defined() ? images.dim(1) : 0; }
};

struct DataSplits {
  Dataset train, validation, test;  // validation is empty when data.validation == 0
  std::string description;          // one line for the log, e.g. "fashion_mnist from DIR: ..."
};

// Loads the configured dataset. The validation split is carved from the training set with a
// seeded permutation (the last `validation` samples of it), so it is disjoint from train and
// identical run to run; normalisation statistics come from the remaining training samples.
// Missing, truncated or corrupt files are a UserError naming the file and what is wrong.
// `check_train_size`, when given, is called with the training-set size the files hold and the
// file that holds it, before the split is carved (the CLI checks the config's sizes against it
// and names where they were set).
using TrainSizeCheck = std::function<void(int64_t train_samples, const std::string& source)>;
DataSplits load_data(const DataConfig& cfg, uint64_t seed,
                     const TrainSizeCheck& check_train_size = {});

// An IDX file (the MNIST format), gzip-compressed or plain (detected by the gzip magic).
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // element type must be unsigned byte (0x08)
};
// What a caller expects of an IDX file, checked against its header before any data is read
// (so a header that declares too much is refused without inflating or allocating it): the
// dimensions after the first (e.g. {28, 28} for images, {} for labels), an upper bound on the
// first (the number of items) and how messages name the expected shape and the items.
struct IdxShape {
  std::vector<int64_t> item_dims;
  int64_t max_items = 0;
  std::string expected;  // "images of 28x28 pixels (IDX dims [N, 28, 28])"
  std::string items;     // "images"
};
// Reads an IDX file of any shape up to 2^32 bytes of data, or (with `shape`) of that shape.
// The data must end exactly where the header says: reading stops at the first byte past it,
// so a file with more data than its header declares (a gzip bomb) costs no more than the
// declared size to refuse.
IdxArray read_idx(const std::string& path);
IdxArray read_idx(const std::string& path, const IdxShape& shape);

// The order of training samples in epoch `epoch` (0-based): a permutation of 0..n-1 that
// depends only on (seed, epoch, n).
std::vector<int32_t> epoch_permutation(uint64_t seed, int64_t epoch, int64_t n);

// Two interleaved spirals (class 0 and 1), `n` points, deterministic from seed.
Dataset make_spirals(int64_t n, double noise, double turns, uint64_t seed, const std::string& name);

}  // namespace kasmina
