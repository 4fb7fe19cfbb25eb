#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace kasmina::io {

namespace {

namespace fs = std::filesystem;

// A temporary file beside `path` that is removed unless released.
class TemporaryFile {
 public:
  explicit TemporaryFile(const fs::path& final_path) {
    std::string name = ".";
    name.append(final_path.filename().string()).append(".tmp-");
    name.append(std::to_string(static_cast<long>(::getpid())));
    path_ = final_path.parent_path() / name;
  }
  ~TemporaryFile() {
    if (file_) std::fclose(file_);
    if (!released_) {
      std::error_code ec;
      fs::remove(path_, ec);
    }
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  const fs::path& path() const { return path_; }
  FILE* open() { return file_ = std::fopen(path_.c_str(), "wb"); }
  // Closes the file; false (errno set) when the close failed.
  bool close() {
    const int rc = std::fclose(file_);
    file_ = nullptr;
    return rc == 0;
  }
  void release() { released_ = true; }

 private:
  fs::path path_;
  FILE* file_ = nullptr;
  bool released_ = false;
};

[[noreturn]] void fail(const std::string& path, const char* step) {
  throw InternalError(path + ": " + step + " failed: " + std::strerror(errno));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const fs::path final_path = fs::absolute(fs::path(path));
  std::error_code ec;
  if (fs::is_directory(final_path, ec)) throw UserError(path + ": cannot write: is a directory");
  TemporaryFile tmp(final_path);
  FILE* f = tmp.open();
  if (!f) throw UserError(path + ": cannot write: " + std::strerror(errno));
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
    fail(path, "write");
  if (std::fflush(f) != 0) fail(path, "write");
  if (::fsync(::fileno(f)) != 0) fail(path, "fsync");
  if (!tmp.close()) fail(path, "close");
  if (std::rename(tmp.path().c_str(), final_path.c_str()) != 0) fail(path, "rename");
  tmp.release();
  const int dir = ::open(final_path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace kasmina::io
