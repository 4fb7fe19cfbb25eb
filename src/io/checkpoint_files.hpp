// The checkpoints of a run directory: RUN_DIR/checkpoints/step_<N>.h5.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kasmina::io {

// RUN_DIR/checkpoints/step_<step>.h5
std::string checkpoint_path(const std::string& run_dir, int64_t step);

struct CheckpointFile {
  int64_t step = 0;
  std::string path;
};

// The final-named checkpoints of a run directory (temporaries are ignored), oldest step first.
// A missing directory gives an empty list.
std::vector<CheckpointFile> list_checkpoints(const std::string& run_dir);

// The newest checkpoint that reads back with every checksum verified; damaged ones are skipped.
std::optional<CheckpointFile> latest_checkpoint(const std::string& run_dir);

// Retention: deletes all but the newest `keep_last` (>= 1) checkpoints, and temporaries left
// behind by writer processes that no longer run. Returns the deleted paths.
std::vector<std::string> prune_checkpoints(const std::string& run_dir, int64_t keep_last);

}  // namespace kasmina::io
