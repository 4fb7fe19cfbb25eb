// The run directory (`--out`): created only once everything has been validated and loaded;
// files are written to a temporary name and renamed into place, and a run that fails removes
// the directory it created, so a failure leaves nothing half-written.
#pragma once
#include <filesystem>
#include <string>

namespace kasmina::cli {

class RunDirectory {
 public:
  // Creates `path` (and parents). UserError if it exists and is not an empty directory.
  explicit RunDirectory(std::filesystem::path path);
  // An existing run directory continued by `--resume`: never removed, even on failure.
  struct Existing {};
  RunDirectory(std::filesystem::path path, Existing);
  ~RunDirectory();  // removes the directory unless commit() was called
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `contents` to path()/name atomically (temporary file, flush, rename).
  void write_file(const std::string& name, const std::string& contents) const;
  void commit() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool created_ = false;
  bool keep_ = false;
};

// "runs/<name>-<YYYYmmdd-HHMMSS>" in the current directory.
std::filesystem::path default_run_path(const std::string& config_name);

}  // namespace kasmina::cli
