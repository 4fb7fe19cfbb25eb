#include "cli/run_output.hpp"

#include <unistd.h>

#include <ctime>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace fs = std::filesystem;

namespace kasmina::cli {

namespace {

// The files a run writes at the top of its run directory.
const char* const kRunFiles[] = {"config.yaml", "summary.json", "telemetry.h5", "checkpoints",
                                 "tensorboard"};

bool only_lock_file(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename() != RunLock::kFileName) return false;
  return !ec;
}

}  // namespace

RunDirectory::RunDirectory(fs::path path) : path_(std::move(path)) {
  std::error_code ec;
  const std::string refused = "--out " + path_.string() +
                              ": exists and is not an empty directory (choose a new run " +
                              "directory, or continue it with --resume)";
  if (fs::exists(path_, ec)) {
    if (!fs::is_directory(path_, ec)) throw UserError(refused);
  } else {
    // create_directories reports whether this process made the directory: when two runs
    // race for it, only one of them did, and only that one may ever remove it.
    created_ = fs::create_directories(path_, ec);
    if (ec)
      throw UserError("--out " + path_.string() +
                      ": cannot create directory: " + io::errno_text(ec.value()));
  }
  lock_ = std::make_unique<RunLock>(path_, "--out");
  if (!only_lock_file(path_)) throw UserError(refused);  // lock_ released and removed
}

RunDirectory::RunDirectory(fs::path path, Existing) : path_(std::move(path)), existing_(true) {
  std::error_code ec;
  if (!fs::is_directory(path_, ec))
    throw UserError("--resume: run directory " + path_.string() + " does not exist");
  lock_ = std::make_unique<RunLock>(path_, "--resume");
}

void RunDirectory::remove_temporaries() const {
  // This process's temporary files (".NAME.tmp-<pid>", io/atomic_file.hpp), left only when a
  // write was cut short without its own clean-up.
  const std::string suffix = ".tmp-" + std::to_string(static_cast<long>(::getpid()));
  std::error_code ec;
  for (const fs::path& dir : {path_, path_ / "checkpoints"}) {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (n.size() > suffix.size() && n[0] == '.' &&
          n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        fs::remove(e.path(), ec);
    }
  }
}

RunDirectory::~RunDirectory() {
  if (keep_) return;  // lock_ is released after this body
  std::error_code ec;
  remove_temporaries();
  if (existing_ || valuable_) return;
  if (created_) {
    fs::remove_all(path_, ec);
  } else {
    // An empty directory the user gave: remove only what this run wrote into it.
    for (const char* f : kRunFiles) fs::remove_all(path_ / f, ec);
  }
}

void RunDirectory::write_file(const std::string& name, const std::string& contents) const {
  io::write_file_atomically((path_ / name).string(), contents);
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
