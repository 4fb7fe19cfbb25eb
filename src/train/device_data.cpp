#include "train/device_data.hpp"

#include <vector>

namespace kasmina {

DeviceSplit upload_split(const Dataset& d, Device dev) {
  DeviceSplit s;
  s.size = d.size();
  if (s.size == 0) return s;
  s.images = d.images.to(dev);
  s.labels = d.labels.to(dev);
  std::vector<int32_t> ident(static_cast<size_t>(s.size));
  for (int64_t i = 0; i < s.size; ++i) ident[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  s.identity_perm = Tensor::from_vector(ident, {s.size}, dev);
  s.scale = d.scale;
  s.shift = d.shift;
  return s;
}

DeviceData upload_splits(const DataSplits& data, Device dev) {
  DeviceData out;
  out.train = upload_split(data.train, dev);
  out.validation = upload_split(data.validation, dev);
  out.test = upload_split(data.test, dev);
  return out;
}

}  // namespace kasmina
