// The dataset splits resident on the training device: images and labels uploaded once, with an
// identity order for evaluation and the split's normalisation.
#pragma once
#include <cstdint>

#include "core/tensor.hpp"
#include "data/dataset.hpp"

namespace kasmina {

struct DeviceSplit {
  Tensor images, labels, identity_perm;
  float scale = 1.0f, shift = 0.0f;
  int64_t size = 0;
};

// Uploads `d` to `dev` (nothing for an empty split).
DeviceSplit upload_split(const Dataset& d, Device dev);

struct DeviceData {
  DeviceSplit train, validation, test;
};

DeviceData upload_splits(const DataSplits& data, Device dev);

}  // namespace kasmina
