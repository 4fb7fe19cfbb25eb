#include "io/checkpoint_files.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <regex>

#include "core/error.hpp"
#include "io/checkpoint.hpp"

namespace kasmina::io {

namespace fs = std::filesystem;

namespace {

const std::regex& final_name() {
  static const std::regex re(R"(step_(\d{1,18})\.h5)");
  return re;
}

const std::regex& temporary_name() {
  static const std::regex re(R"(\.step_\d{1,18}\.h5\.tmp-(\d{1,10}))");
  return re;
}

bool process_alive(long pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  KASMINA_CHECK(step >= 0, "negative checkpoint step");
  return (fs::path(run_dir) / "checkpoints" / ("step_" + std::to_string(step) + ".h5")).string();
}

std::vector<CheckpointFile> list_checkpoints(const std::string& run_dir) {
  std::vector<CheckpointFile> out;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(ec) && std::regex_match(name, m, final_name()))
      out.push_back({std::stoll(m[1].str()), entry.path().string()});
  }
  std::sort(out.begin(), out.end(),
            [](const CheckpointFile& a, const CheckpointFile& b) { return a.step < b.step; });
  return out;
}

std::optional<CheckpointFile> latest_checkpoint(const std::string& run_dir) {
  auto files = list_checkpoints(run_dir);
  for (auto it = files.rbegin(); it != files.rend(); ++it)
    if (verify_checkpoint(it->path).ok) return *it;
  return std::nullopt;
}

std::vector<std::string> prune_checkpoints(const std::string& run_dir, int64_t keep_last) {
  KASMINA_CHECK(keep_last >= 1, "prune_checkpoints keeps at least one checkpoint");
  std::vector<std::string> removed;
  std::error_code ec;
  auto files = list_checkpoints(run_dir);
  const auto excess = static_cast<int64_t>(files.size()) - keep_last;
  for (int64_t i = 0; i < excess; ++i) {
    if (fs::remove(files[static_cast<size_t>(i)].path, ec))
      removed.push_back(files[static_cast<size_t>(i)].path);
  }
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir, ec)) return removed;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, temporary_name()) && !process_alive(std::stol(m[1].str())) &&
        fs::remove(entry.path(), ec))
      removed.push_back(entry.path().string());
  }
  return removed;
}

}  // namespace kasmina::io
