#include "cli/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace fs = std::filesystem;

namespace kasmina::cli {

namespace {

std::string read_holder(int fd) {
  char buf[512];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// "pid 123 on host h" from the file's "123 h"; the raw text if it has another form.
std::string describe_holder(const std::string& text) {
  const size_t sp = text.find(' ');
  if (text.empty()) return "another process (its lock file is not written yet)";
  if (sp == std::string::npos) return "pid " + text;
  return "pid " + text.substr(0, sp) + " on host " + text.substr(sp + 1);
}

std::string host_name() {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0) return "unknown";
  return h;
}

}  // namespace

RunLock::RunLock(const fs::path& dir, const std::string& what) : path_(dir / kFileName) {
  // Retry when the file we locked was removed (or replaced) by its previous holder in between.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw UserError(what + " " + dir.string() + ": cannot create the lock file " +
                      path_.string() + ": " + io::errno_text(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = read_holder(fd);
      ::close(fd);
      if (err == EWOULDBLOCK)
        throw UserError(what + " " + dir.string() + ": the run directory is in use by " +
                        describe_holder(holder) + " (lock " + path_.string() + ")");
      throw UserError(what + " " + dir.string() + ": cannot lock " + path_.string() + ": " +
                      io::errno_text(err));
    }
    struct stat by_fd {
    }, by_path{};
    if (::fstat(fd, &by_fd) != 0 || ::stat(path_.c_str(), &by_path) != 0 ||
        by_fd.st_ino != by_path.st_ino || by_fd.st_dev != by_path.st_dev) {
      ::close(fd);
      continue;
    }
    const std::string stale = read_holder(fd);
    if (!stale.empty())
      std::fprintf(stderr, "warning: %s %s: taking over the stale lock of %s (no longer held)\n",
                   what.c_str(), dir.string().c_str(), describe_holder(stale).c_str());
    const std::string me = std::to_string(static_cast<long>(::getpid())) + " " + host_name() + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
      const int err = errno;
      ::close(fd);
      throw UserError(what + " " + dir.string() + ": cannot write the lock file " + path_.string() +
                      ": " + io::errno_text(err));
    }
    fd_ = fd;
    return;
  }
  throw UserError(what + " " + dir.string() + ": cannot lock " + path_.string() +
                  " (it keeps being replaced)");
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding it: a waiting opener sees a removed file
  ::close(fd_);
}

}  // namespace kasmina::cli
