// A trainer's RunState as a checkpoint file and back, and the checkpoints of a run directory
// as `kasmina train` writes and resumes them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/run_state.hpp"
#include "io/checkpoint.hpp"

namespace kasmina::io {

// The checkpoint of `state` (tensors shared, not copied) with the configuration text.
CheckpointState to_checkpoint(const RunState& state, const std::string& config_yaml,
                              const std::string& config_name);
// The RunState stored in a checkpoint read back with read_checkpoint.
RunState from_checkpoint(const CheckpointState& ckpt);

// `--resume PATH` (and `kasmina eval`/`export PATH`): PATH is a checkpoint file, or a run
// directory whose newest checkpoint that verifies is taken. Returns the file. UserError when
// there is none, its message starting with `role` and PATH ("--resume PATH: ...").
std::string resolve_resume_path(const std::string& path, const std::string& role = "--resume");

// The run directory of a checkpoint file RUN_DIR/checkpoints/step_<N>.h5.
std::string run_dir_of_checkpoint(const std::string& checkpoint_file);

}  // namespace kasmina::io
