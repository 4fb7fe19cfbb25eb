// Which configuration changes a resumed run accepts. A checkpoint continues bit for bit only
// with the model, data, optimizer, schedule and controller it was written with; cadences,
// telemetry/checkpoint settings, the epoch count, the device and the data directory may change.
#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"

namespace kasmina::io {

struct ConfigChanges {
  std::vector<std::string> refused;  // "model.layers[2]: ...", each naming the key
  std::vector<std::string> allowed;  // "train.epochs: 20 -> 30"
};

ConfigChanges compare_for_resume(const Config& saved, const Config& now);

}  // namespace kasmina::io
