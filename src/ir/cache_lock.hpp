// A per-key lock between processes (flock on a lock file): released by the kernel when its
// holder exits, even by kill -9, so a crashed compile never blocks the others.
#pragma once
#include <chrono>
#include <string>

namespace kasmina::ir {

class FileLock {
 public:
  // Tries for up to `wait` to take the lock on `path` (created when absent); locked() tells.
  FileLock(const std::string& path, std::chrono::milliseconds wait);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool locked() const { return locked_; }

 private:
  int fd_ = -1;
  bool locked_ = false;
};

}  // namespace kasmina::ir
