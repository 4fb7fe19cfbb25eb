// The run directory (`--out`): created once the configuration has been validated, before the data
// is loaded (so an --out that cannot be created or written is refused at once), and locked
// (RUN_DIR/.lock, see run_lock.hpp) for the run's whole life, so a second run or a
// `--resume` into a live run is refused. Files are written to a temporary name and renamed into
// place. A run that fails removes only what it created and has not yet made valuable: once a
// checkpoint verified or telemetry rows were flushed the directory is kept (only temporary files
// are removed); otherwise the directory is removed if this run created it, or emptied of the
// files this run wrote if it was an empty directory before. A directory this run did not create
// is never removed.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "cli/run_lock.hpp"

namespace kasmina::cli {

class RunDirectory {
 public:
  // Creates `path` (and parents) and locks it. UserError if it exists and is not an empty
  // directory (a stale lock file alone counts as empty), or a live run holds it.
  explicit RunDirectory(std::filesystem::path path);
  // An existing run directory continued by `--resume`, locked: never removed, even on failure.
  struct Existing {};
  RunDirectory(std::filesystem::path path, Existing);
  ~RunDirectory();  // unless commit() was called: cleans up as described above
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `contents` to path()/name atomically (io/atomic_file.hpp; IoError on failure).
  void write_file(const std::string& name, const std::string& contents) const;
  // A checkpoint verified or telemetry rows were flushed: a failure keeps the directory.
  void mark_valuable() { valuable_ = true; }
  void commit() { keep_ = true; }

 private:
  void remove_temporaries() const;

  std::filesystem::path path_;
  std::unique_ptr<RunLock> lock_;
  bool created_ = false;
  bool existing_ = false;
  bool valuable_ = false;
  bool keep_ = false;
};

// "runs/<name>-<YYYYmmdd-HHMMSS>" in the current directory.
std::filesystem::path default_run_path(const std::string& config_name);

}  // namespace kasmina::cli
