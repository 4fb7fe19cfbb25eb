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
// Values in one tensor a config can size: a linear layer's weights (in x out) and a batch's
// activations (batch x the widest layer). 2^31 fp32 values are 8 GiB.
inline constexpr int64_t kMaxTensorValues = int64_t{1} << 31;
// data.spirals_train and data.spirals_test: generated samples.
inline constexpr int64_t kMaxSpiralsSamples = 10'000'000;

// Self-attention (type: attention, patch_embed's tokens): rows (tokens) per sample and the
// width of one head, the sizes the fused attention kernel handles (ops/transformer_ops.hpp).
inline constexpr int64_t kMaxAttentionTokens = 256;
inline constexpr int64_t kMaxAttentionHeadWidth = 64;

// A config file (and the config text a checkpoint stores): real configs are a few KB. Checked
// before the file is read, so the YAML tree yaml-cpp builds (up to ~70x the text) stays small.
inline constexpr int64_t kMaxConfigBytes = int64_t{1} << 20;
// Entries of one list (model.layers, schedule, a residual block's layers, a kasmina layer's
// blueprints), checked before the list's entries are read.
inline constexpr int64_t kMaxListEntries = 10000;

}  // namespace kasmina::config_limits
