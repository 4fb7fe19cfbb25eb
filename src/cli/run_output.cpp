#include "cli/run_output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace kasmina::cli {

RunDirectory::RunDirectory(fs::path path) : path_(std::move(path)) {
  std::error_code ec;
  if (fs::exists(path_, ec)) {
    if (!fs::is_directory(path_, ec) || !fs::is_empty(path_, ec)) {
      throw UserError("--out " + path_.string() +
                      ": exists and is not an empty directory (choose a new run directory)");
    }
    return;
  }
  fs::create_directories(path_, ec);
  if (ec) throw UserError("--out " + path_.string() + ": cannot create directory: " + ec.message());
  created_ = true;
}

RunDirectory::RunDirectory(fs::path path, Existing) : path_(std::move(path)), keep_(true) {
  std::error_code ec;
  if (!fs::is_directory(path_, ec))
    throw UserError("--resume: run directory " + path_.string() + " does not exist");
}

RunDirectory::~RunDirectory() {
  if (keep_) return;
  std::error_code ec;
  if (created_) {
    fs::remove_all(path_, ec);
  } else {
    for (const auto& e : fs::directory_iterator(path_, ec)) fs::remove_all(e.path(), ec);
  }
}

void RunDirectory::write_file(const std::string& name, const std::string& contents) const {
  const fs::path final_path = path_ / name;
  const fs::path tmp = path_ / ("." + name + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InternalError("cannot write " + tmp.string() + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + off, contents.size() - off);
    if (n < 0) {
      ::close(fd);
      throw InternalError("cannot write " + tmp.string() + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  fs::rename(tmp, final_path);
}

fs::path default_run_path(const std::string& config_name) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return fs::path("runs") / (config_name + "-" + stamp);
}

}  // namespace kasmina::cli
