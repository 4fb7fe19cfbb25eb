// A trained network named on the command line (`kasmina eval PATH`, `kasmina export PATH`): a
// checkpoint file, or a run directory whose newest checkpoint that verifies is taken. The
// checkpoint is read with every checksum verified, and its stored configuration is parsed with
// the command's --device and --data-dir (data directory precedence as for `kasmina train`:
// --data-dir > KASMINA_DATA_DIR > the stored data.dir).
#pragma once
#include <string>

#include "config/config.hpp"
#include "io/checkpoint.hpp"

namespace CLI {
class App;
}

namespace kasmina::cli {

struct TrainedRun {
  std::string checkpoint_file;
  io::CheckpointState checkpoint;
  Config config;
};

// UserError (exit 2) for a path that is no checkpoint, a run directory without a checkpoint that
// verifies, a damaged checkpoint, or a stored configuration that does not parse; messages start
// with `command` and the path ("eval runs/x: no checkpoints in runs/x/checkpoints").
// Adds the options of a command on a trained run: the positional RUN_DIR|CHECKPOINT (required)
// and --data-dir (`what_for`: why the command reads the data).
void add_trained_run_options(CLI::App& cmd, std::string& path, std::string& data_dir,
                             const std::string& what_for);

// An output file named on the command line (`export OUT`, `eval --json FILE`), checked before
// the work: its directory exists and is writable, and it is not itself a directory. UserError
// "PATH: cannot write: <why>" otherwise. (The file is then written atomically, io/atomic_file.hpp.)
void check_output_file(const std::string& path);

TrainedRun load_trained_run(const std::string& command, const std::string& path,
                            const std::string& device, const std::string& data_dir);

}  // namespace kasmina::cli
