// The column tables of the telemetry file, shared by writer and reader. Each table is a group
// of parallel 1-D datasets of equal length (one per column), see docs/FORMATS.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.hpp"

namespace kasmina::io {

struct ColumnSpec {
  std::string name;
  DType dtype = DType::f64;  // ignored for strings
  bool is_string = false;
};

// Rows per chunk of the 1-D tables, and the target chunk size of /seeds/<layer>/stats.
inline constexpr int64_t kTableChunkRows = 4096;
inline constexpr int64_t kStatsChunkBytes = int64_t{1} << 20;

inline std::vector<ColumnSpec> step_columns() {
  return {{"step", DType::i64},
          {"epoch", DType::i64},
          {"loss", DType::f64},
          {"lr", DType::f64},
          {"samples_per_second", DType::f64},
          {"train_flops", DType::f64}};
}

inline std::vector<ColumnSpec> epoch_columns() {
  return {{"epoch", DType::i64},
          {"train_loss", DType::f64},
          {"train_accuracy", DType::f64},
          {"validation_loss", DType::f64},
          {"validation_accuracy", DType::f64},
          {"test_loss", DType::f64},
          {"test_accuracy", DType::f64},
          {"seconds", DType::f64}};
}

inline std::vector<ColumnSpec> event_columns() {
  return {{"step", DType::i64},         {"layer", DType::f64, true},
          {"seed", DType::i64},         {"from", DType::i32},
          {"to", DType::i32},           {"blueprint", DType::f64, true},
          {"reason", DType::f64, true}, {"value", DType::f64}};
}

inline std::vector<ColumnSpec> message_columns() {
  return {{"step", DType::i64},
          {"topic", DType::f64, true},
          {"kind", DType::f64, true},
          {"payload", DType::f64, true}};
}

}  // namespace kasmina::io
