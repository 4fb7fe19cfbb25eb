// Datasets held in host memory as whole tensors; the trainer uploads them to the training
// device once and gathers batches there.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/tensor.hpp"

namespace kasmina {

struct Dataset {
  std::string name;     // "train", "validation", "test"
  Tensor images;        // [N, D] on the CPU: uint8 pixels (Fashion-MNIST) or float32 (spirals)
  Tensor labels;        // [N] int32 in [0, num_classes)
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
DataSplits load_data(const DataConfig& cfg, uint64_t seed);

// An IDX file (the MNIST format), gzip-compressed or plain (detected by the gzip magic).
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // element type must be unsigned byte (0x08)
};
IdxArray read_idx(const std::string& path);

// The order of training samples in epoch `epoch` (0-based): a permutation of 0..n-1 that
// depends only on (seed, epoch, n).
std::vector<int32_t> epoch_permutation(uint64_t seed, int64_t epoch, int64_t n);

// Two interleaved spirals (class 0 and 1), `n` points, deterministic from seed.
Dataset make_spirals(int64_t n, double noise, double turns, uint64_t seed, const std::string& name);

}  // namespace kasmina
