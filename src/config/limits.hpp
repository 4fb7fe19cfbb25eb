// Upper bounds on the sizes a config may ask for, checked while the config is read, before
// anything is allocated. They are far above any real run (configs/README.md documents them) and
// keep every tensor a size can reach well inside memory and 32-bit kernel indexing.
#pragma once
#include <cstdint>

namespace kasmina::config_limits {

// train.batch_size and train.eval_batch_size: samples in one batch.
inline constexpr int64_t kMaxBatch = 65536;
// A layer's width (`out`, `in`): units of one layer.
inline constexpr int64_t kMaxWidth = 65536;
// data.spirals_train and data.spirals_test: generated samples.
inline constexpr int64_t kMaxSpiralsSamples = 10'000'000;

}  // namespace kasmina::config_limits
