#include "ir/kernel_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>

#include "core/error.hpp"
#include "ir/cache_lock.hpp"

namespace kasmina::ir {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTempPrefix = ".tmp-";

// The file's bytes in one allocation (its size from fstat, then reads until end of file: a file
// that grew meanwhile is read whole, one that shrank is read as it is now; decode_entry checks).
// A stringstream copy was half of a disk hit's time. One byte more than the size, so that the
// read that finds the end of the file needs no second, larger buffer.
// `mtime`: the file's modification time (unchanged when fstat fails).
std::optional<std::string> slurp(const std::string& path, struct timespec* mtime = nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0) {
    if (mtime) *mtime = st.st_mtim;
    if (st.st_size > 0) out.resize(static_cast<size_t>(st.st_size) + 1);
  }
  size_t have = 0;
  for (;;) {
    if (have == out.size()) out.resize(std::max<size_t>(4096, 2 * out.size()));
    const ssize_t n = ::read(fd, out.data() + have, out.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      if (n < 0) return std::nullopt;
      out.resize(have);
      return out;
    }
    have += static_cast<size_t>(n);
  }
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

struct EntryFile {
  fs::path path;
  std::string name;
  uint64_t bytes;
  fs::file_time_type time;
};

// The entry files (not temporary files) of one subdirectory, or of all when `subdir` is empty.
std::vector<EntryFile> list_entries(const fs::path& root, const std::string& subdir = "") {
  std::vector<EntryFile> out;
  std::error_code ec;
  const fs::path base = subdir.empty() ? root : root / subdir;
  if (!fs::exists(base, ec)) return out;
  auto add = [&](const fs::directory_entry& e) {
    std::error_code ec2;
    if (!e.is_regular_file(ec2)) return;
    const std::string name = e.path().filename().string();
    if (name.rfind(kTempPrefix, 0) == 0) return;
    out.push_back({e.path(), name, e.file_size(ec2), e.last_write_time(ec2)});
  };
  if (!subdir.empty()) {
    for (const auto& e : fs::directory_iterator(base, ec)) add(e);
  } else {
    for (const auto& e : fs::recursive_directory_iterator(base, ec)) add(e);
  }
  return out;
}

}  // namespace

KernelCache::KernelCache(CacheOptions options) : options_(std::move(options)) {
  KASMINA_CHECK(!options_.dir.empty(), "kernel cache: no directory");
}

std::string KernelCache::entry_path(const std::string& key) const {
  return (fs::path(options_.dir) / "entries" / key.substr(0, 2) / key).string();
}

void KernelCache::count(int64_t CacheStats::*counter) {
  std::lock_guard<std::mutex> lock(counters_mutex_);
  ++(counters_.*counter);
}

void KernelCache::quarantine(const std::string& path, const std::string& name) {
  static std::atomic<int> counter{0};
  std::error_code ec;
  const fs::path q = fs::path(options_.dir) / "quarantine";
  fs::create_directories(q, ec);
  const std::string to =
      (q / (name + "." + std::to_string(::getpid()) + "." + std::to_string(counter++) + ".bad"))
          .string();
  if (::rename(path.c_str(), to.c_str()) != 0) ::unlink(path.c_str());
  count(&CacheStats::quarantined_now);
}

std::optional<DecodedEntry> KernelCache::read(const std::string& key) {
  KASMINA_CHECK(valid_key(key), "kernel cache: bad key '" + key + "'");
  const std::string path = entry_path(key);
  struct timespec mtime {};  // the epoch when unknown: then touched
  std::optional<std::string> bytes = slurp(path, &mtime);
  if (!bytes) return std::nullopt;
  DecodedEntry e = decode_entry_in_place(key, std::move(*bytes));
  if (!e.ok) {
    quarantine(path, key);
    return std::nullopt;
  }
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec - mtime.tv_sec >= options_.touch_after.count() || now.tv_sec < mtime.tv_sec)
    ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // most recently used
  return e;
}

bool KernelCache::write(const std::string& key, EntryKind kind, std::string_view payload) {
  static std::atomic<int> counter{0};
  const fs::path final_path = entry_path(key);
  const fs::path dir = final_path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  limit_directory(key.substr(0, 2), key);
  const fs::path temp = dir / (std::string(kTempPrefix) + key + "-" + std::to_string(::getpid()) +
                               "-" + std::to_string(counter++));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool ok = write_all(fd, encode_entry(key, kind, payload)) && ::fsync(fd) == 0;
  ::close(fd);
  if (ok && options_.before_publish) options_.before_publish(temp.string());
  if (!ok || ::rename(temp.c_str(), final_path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return false;
  }
  sync_dir(dir);
  return true;
}

std::optional<CacheLookup> KernelCache::find(const std::string& key) {
  std::optional<DecodedEntry> e = read(key);
  if (!e) return std::nullopt;
  count(&CacheStats::hits);
  return CacheLookup{CacheSource::disk, e->kind == EntryKind::kernel, std::move(e->payload)};
}

CacheLookup KernelCache::get_or_compile(const std::string& key,
                                        const std::function<CompileOutcome()>& compile) {
  auto from = [](DecodedEntry& e, CacheSource source) {
    return CacheLookup{source, e.kind == EntryKind::kernel, std::move(e.payload)};
  };
  if (std::optional<DecodedEntry> e = read(key)) {
    count(&CacheStats::hits);
    return from(*e, CacheSource::disk);
  }
  std::error_code ec;
  const fs::path locks = fs::path(options_.dir) / "locks";
  fs::create_directories(locks, ec);
  // Past the bounded wait, compile without the lock (a duplicate compile, never a stall).
  const FileLock lock((locks / (key + ".lock")).string(), options_.lock_wait);
  if (std::optional<DecodedEntry> e = read(key)) {  // compiled while we waited
    count(&CacheStats::hits);
    return from(*e, CacheSource::disk);
  }
  count(&CacheStats::misses);
  count(&CacheStats::compiles);
  const CompileOutcome out = compile();
  write(key, out.ok ? EntryKind::kernel : EntryKind::negative, out.ok ? out.payload : out.log);
  evict(key);
  return CacheLookup{CacheSource::compiled, out.ok, out.ok ? out.payload : out.log};
}

void KernelCache::limit_directory(const std::string& subdir, const std::string& keep) {
  std::vector<EntryFile> files = list_entries(fs::path(options_.dir) / "entries", subdir);
  if (static_cast<int64_t>(files.size()) < options_.max_entries_per_dir) return;
  std::sort(files.begin(), files.end(),
            [](const EntryFile& a, const EntryFile& b) { return a.time < b.time; });
  std::error_code ec;
  for (size_t i = 0;
       i < files.size() && static_cast<int64_t>(files.size() - i) >= options_.max_entries_per_dir;
       ++i)
    if (files[i].name != keep) fs::remove(files[i].path, ec);
}

void KernelCache::evict(const std::string& keep) {
  std::vector<EntryFile> files = list_entries(fs::path(options_.dir) / "entries");
  uint64_t total = 0;
  for (const EntryFile& f : files) total += f.bytes;
  if (total <= options_.max_bytes) return;
  std::sort(files.begin(), files.end(),
            [](const EntryFile& a, const EntryFile& b) { return a.time < b.time; });
  std::error_code ec;
  for (const EntryFile& f : files) {
    if (total <= options_.max_bytes) break;
    if (f.name == keep) continue;
    if (fs::remove(f.path, ec)) total -= f.bytes;
  }
}

CacheStats KernelCache::stats() const {
  CacheStats s;
  {
    std::lock_guard<std::mutex> lock(counters_mutex_);
    s = counters_;
  }
  const fs::path root(options_.dir);
  for (const EntryFile& f : list_entries(root / "entries")) {
    ++s.entries;
    s.bytes += static_cast<int64_t>(f.bytes);
    std::optional<std::string> bytes = slurp(f.path.string());
    const DecodedEntry e =
        bytes ? decode_entry_in_place(f.name, std::move(*bytes)) : DecodedEntry{};
    if (e.ok && e.kind == EntryKind::negative) ++s.negative;
  }
  s.quarantined = static_cast<int64_t>(list_entries(root / "quarantine").size());
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(root / "entries", ec))
    if (e.path().filename().string().rfind(kTempPrefix, 0) == 0) ++s.temporary;
  return s;
}

VerifyReport KernelCache::verify() {
  VerifyReport r;
  for (const EntryFile& f : list_entries(fs::path(options_.dir) / "entries")) {
    ++r.checked;
    std::optional<std::string> bytes = slurp(f.path.string());
    DecodedEntry e;
    e.problem = "not an entry name";
    if (valid_key(f.name) && bytes) e = decode_entry_in_place(f.name, std::move(*bytes));
    if (e.ok && f.path.parent_path().filename() == f.name.substr(0, 2)) {
      ++r.good;
      continue;
    }
    r.quarantined.push_back(f.path.string() + ": " + (e.ok ? "in the wrong directory" : e.problem));
    quarantine(f.path.string(), f.name);
  }
  return r;
}

void KernelCache::clear() {
  std::error_code ec;
  for (const char* sub : {"entries", "quarantine", "locks"})
    fs::remove_all(fs::path(options_.dir) / sub, ec);
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("KASMINA_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return (fs::path(x) / "kasmina" / "kernels").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : "/tmp") / ".cache" / "kasmina" / "kernels").string();
}

}  // namespace kasmina::ir
