// The parameters of the transformer layers (keys and rules: transformer.cpp): `patch_embed`
// and `attention`.
#pragma once
#include <cstdint>

namespace kasmina {

struct PatchEmbedConfig {
  static constexpr const char* kName = "PatchEmbedConfig";
  int64_t patch = 4;        // square patches of patch x patch pixels
  int64_t dim = 0;          // token width (required)
  bool class_token = true;  // a learned token prepended to the patches
  bool operator==(const PatchEmbedConfig&) const = default;
};

struct AttentionConfig {
  static constexpr const char* kName = "AttentionConfig";
  int64_t heads = 1;  // the width divides into heads of width / heads
  bool bias = true;   // of the input (q, k, v) and output projections
  bool operator==(const AttentionConfig&) const = default;
};

}  // namespace kasmina
