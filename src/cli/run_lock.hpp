// The exclusive lock a run holds on its run directory for its whole life: RUN_DIR/.lock holds
// "pid host" and is locked with flock(2). The kernel drops the lock when the process dies, so a
// lock file that nobody holds is stale and is taken over.
#pragma once
#include <filesystem>
#include <string>

namespace kasmina::cli {

class RunLock {
 public:
  // Locks `dir`/.lock, creating the file if needed. `what` names the option in messages
  // ("--out", "--resume"). UserError naming the holder (pid, host) if a live process holds it;
  // prints a warning when a stale lock of a dead process is taken over.
  RunLock(const std::filesystem::path& dir, const std::string& what);
  ~RunLock();  // removes the lock file and releases the lock
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  static constexpr const char* kFileName = ".lock";

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace kasmina::cli
