// The per-dataset loaders behind load_data().
#pragma once
#include <cstdint>

#include "config/config.hpp"
#include "data/dataset.hpp"

namespace kasmina::data {

// Fashion-MNIST from the four standard IDX files in cfg.dir (gzip or plain).
DataSplits load_fashion_mnist(const DataConfig& cfg, uint64_t seed,
                              const TrainSizeCheck& check_train_size = {});

// Two interleaved spirals, train and test drawn from independent seeds.
DataSplits load_spirals(const DataConfig& cfg, uint64_t seed);

}  // namespace kasmina::data
