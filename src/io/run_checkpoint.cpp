#include "io/run_checkpoint.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/checkpoint_files.hpp"

namespace kasmina::io {

namespace {
constexpr const char* kGlobalStep = "run/global_step";
constexpr const char* kEpochStep = "run/epoch_step";
}  // namespace

CheckpointState to_checkpoint(const RunState& state, const std::string& config_yaml,
                              const std::string& config_name) {
  CheckpointState c;
  c.config_yaml = config_yaml;
  c.config_name = config_name;
  c.step = state.global_step;
  c.epoch = state.epoch;
  // Samples of the epoch consumed (docs/FORMATS.md); the step count is kept in run/epoch_step.
  const auto batch = state.ints.find("data/batch_size");
  c.epoch_position = state.epoch_step * (batch != state.ints.end() ? batch->second : 1);
  for (const auto& [name, t] : state.tensors) c.tensors.push_back({name, t});
  c.ints = state.ints;
  c.ints[kGlobalStep] = state.global_step;
  c.ints[kEpochStep] = state.epoch_step;
  c.floats = state.floats;
  return c;
}

RunState from_checkpoint(const CheckpointState& ckpt) {
  RunState s;
  s.global_step = ckpt.step;
  s.epoch = ckpt.epoch;
  for (const NamedTensor& t : ckpt.tensors) s.tensors.emplace_back(t.name, t.tensor);
  s.ints = ckpt.ints;
  s.floats = ckpt.floats;
  if (auto it = s.ints.find(kGlobalStep); it == s.ints.end() || it->second != ckpt.step)
    throw UserError("checkpoint: not written by `kasmina train` (no consistent " +
                    std::string(kGlobalStep) + ")");
  auto es = s.ints.find(kEpochStep);
  if (es == s.ints.end())
    throw UserError("checkpoint: not written by `kasmina train` (no run/epoch_step)");
  s.epoch_step = es->second;
  s.ints.erase(kGlobalStep);
  s.ints.erase(kEpochStep);
  return s;
}

std::string resolve_resume_path(const std::string& path, const std::string& role) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const auto all = list_checkpoints(path);
    const auto latest = latest_checkpoint(path);
    if (!latest) {
      if (all.empty())
        throw UserError(role + " " + path + ": no checkpoints in " +
                        (fs::path(path) / "checkpoints").string());
      throw UserError(
          role + " " + path + ": none of its " + std::to_string(all.size()) +
          " checkpoints verifies (the newest: " + verify_checkpoint(all.back().path).message + ")");
    }
    return latest->path;
  }
  if (!fs::exists(path, ec)) {
    if (ec && ec != std::errc::no_such_file_or_directory)
      throw UserError(role + " " + path + ": " + errno_text(ec.value()));
    throw UserError(role + " " + path + ": no such file or directory");
  }
  return path;
}

std::string run_dir_of_checkpoint(const std::string& checkpoint_file) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::absolute(fs::path(checkpoint_file)).parent_path();
  if (dir.filename() != "checkpoints")
    throw UserError("--resume " + checkpoint_file +
                    ": not inside a run directory (expected RUN_DIR/checkpoints/step_<N>.h5)");
  return dir.parent_path().string();
}

}  // namespace kasmina::io
