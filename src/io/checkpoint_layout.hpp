// Dataset paths inside a checkpoint file, shared by writer and reader (see docs/FORMATS.md).
#pragma once

namespace kasmina::io::checkpoint_layout {

inline constexpr const char* kTensorNames = "/tensor_names";  // 1-D strings, in order
inline constexpr const char* kTensorsGroup = "/tensors";      // /tensors/<name>
// Named scalars: parallel datasets <group>/names (strings) and <group>/values.
inline constexpr const char* kIntsGroup = "/ints";
inline constexpr const char* kFloatsGroup = "/floats";
inline constexpr const char* kStringsGroup = "/strings";
inline constexpr const char* kMetricsGroup = "/metrics";

inline constexpr const char* kFaultPauseEnv = "KASMINA_FAULT_PAUSE_IN_CHECKPOINT_WRITE";

}  // namespace kasmina::io::checkpoint_layout
