#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "core/str_cat.hpp"

namespace kasmina::io {

namespace fs = std::filesystem;

std::string errno_text(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string temporary_path_for(const std::string& path) {
  const fs::path p(path);
  const std::string name =
      str_cat(".", p.filename().string(), ".tmp-", static_cast<long>(::getpid()));
  return (p.parent_path() / name).string();
}

namespace {

// The open temporary file: closed (if still open) and removed unless released.
class Temporary {
 public:
  Temporary(std::string path, std::string final_path)
      : path_(std::move(path)), final_(std::move(final_path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(errno);
  }
  ~Temporary() {
    if (fd_ >= 0) ::close(fd_);
    if (!released_) ::unlink(path_.c_str());
  }
  Temporary(const Temporary&) = delete;
  Temporary& operator=(const Temporary&) = delete;

  [[noreturn]] void fail(int err, const char* step = "") const {
    throw IoError("cannot write " + final_ + ": " + step + errno_text(err));
  }

  void write_all(const char* data, size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(errno);
      if (n == 0) fail(ENOSPC);
      data += n;
      size -= static_cast<size_t>(n);
    }
  }

  void sync_and_close() {
    if (::fsync(fd_) != 0) fail(errno, "fsync: ");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(errno, "close: ");
  }

  void rename_into_place() {
    if (::rename(path_.c_str(), final_.c_str()) != 0) fail(errno, "rename: ");
    released_ = true;
  }

 private:
  std::string path_, final_;
  int fd_ = -1;
  bool released_ = false;
};

void fsync_directory(const fs::path& dir, const std::string& final_path) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw IoError("cannot write " + final_path + ": open its directory: " + errno_text(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems do not sync directories (EINVAL): the rename is as durable as they allow.
  if (rc != 0 && err != EINVAL)
    throw IoError("cannot write " + final_path + ": fsync of its directory: " + errno_text(err));
}

}  // namespace

void write_file_atomically(const std::string& path, const void* data, size_t size,
                           const std::function<void()>& midway) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw IoError("cannot write " + path + ": create directory " + dir.string() + ": " +
                  errno_text(ec.value()));
  Temporary tmp(temporary_path_for(path), path);
  const auto* bytes = static_cast<const char*>(data);
  const size_t half = size / 2;
  tmp.write_all(bytes, half);
  if (midway) midway();
  tmp.write_all(bytes + half, size - half);
  tmp.sync_and_close();
  tmp.rename_into_place();
  fsync_directory(dir, path);
}

}  // namespace kasmina::io
