#include "cli/trained_run.hpp"

#include <cstdlib>

#include "io/run_checkpoint.hpp"

namespace kasmina::cli {

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
