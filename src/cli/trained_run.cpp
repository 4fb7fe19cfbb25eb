#include "cli/trained_run.hpp"

#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "io/atomic_file.hpp"
#include "io/run_checkpoint.hpp"

namespace kasmina::cli {

void add_trained_run_options(CLI::App& cmd, std::string& path, std::string& data_dir,
                             const std::string& what_for) {
  cmd.add_option("RUN_DIR|CHECKPOINT", path,
                 "a run directory (its newest valid checkpoint) or a checkpoint file")
      ->required();
  cmd.add_option(
      "--data-dir", data_dir,
      "Dataset directory" + what_for + " (overrides KASMINA_DATA_DIR and the run's config)");
}

void check_output_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw UserError(path + ": cannot write: it is a directory");
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec))
    throw UserError(path + ": cannot write: no such directory " + dir.string());
  if (::access(dir.c_str(), W_OK) != 0)
    throw UserError(path + ": cannot write: " + io::errno_text(errno));
}

TrainedRun load_trained_run(const std::string& command, const std::string& path,
                            const std::string& device, const std::string& data_dir) {
  TrainedRun run;
  run.checkpoint_file = io::resolve_resume_path(path, command);
  run.checkpoint = io::read_checkpoint(run.checkpoint_file, /*verify=*/true);
  Overrides ov;
  if (const char* env = std::getenv("KASMINA_DATA_DIR"); env && *env && data_dir.empty())
    ov.sets.push_back(string_override("data.dir", env));
  if (!data_dir.empty()) ov.sets.push_back(string_override("data.dir", data_dir));
  if (!device.empty()) ov.sets.push_back(string_override("device", device));
  run.config =
      parse_config(run.checkpoint.config_yaml, run.checkpoint_file + " (stored config)", ov);
  return run;
}

}  // namespace kasmina::cli
