// The kernel cache on disk, shared by concurrent processes: one file per entry, named by its
// key (a SHA-256, 64 hex digits), under entries/<first two digits>/ (so no directory holds more
// than max_entries_per_dir); written to a temporary file, fsynced and renamed, so a crash leaves
// no entry under a final name; verified on every read (cache_entry.hpp), a corrupt or foreign
// file moved to quarantine/ and treated as a miss; a per-key lock (locks/) with a bounded wait
// so that processes starting together compile each key once; a size cap with least-recently-used
// eviction (a hit refreshes the entry's time); failures cached as negative entries holding the
// compiler's log. Nothing here knows what a kernel is: `compile` is any function.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/cache_entry.hpp"

namespace kasmina::ir {

struct CacheOptions {
  std::string dir;
  uint64_t max_bytes = uint64_t(1) << 30;  // 1 GiB
  int32_t max_entries_per_dir = 4096;
  std::chrono::milliseconds lock_wait{30000};
  // A hit marks its entry most recently used (the file's modification time, which eviction
  // orders by) when that time is at least this old, so that an entry hit again and again is not
  // given a metadata write on every hit; eviction orders entries to within this much.
  std::chrono::seconds touch_after{60};
  // Test hook: called with the temporary file's path once its bytes are written and synced,
  // before it is renamed to its final name.
  std::function<void(const std::string&)> before_publish;
};

struct CompileOutcome {
  bool ok = false;
  std::string payload;  // ok: the compiled kernel
  std::string log;      // the compiler's log (kept in a negative entry when not ok)
};

enum class CacheSource { disk, compiled };

struct CacheLookup {
  CacheSource source = CacheSource::disk;
  bool ok = false;      // false: a negative entry (the compile failed, now or before)
  std::string payload;  // ok: the kernel; else the compiler's log
};

struct CacheStats {
  int64_t entries = 0, negative = 0, bytes = 0, quarantined = 0, temporary = 0;
  int64_t hits = 0, misses = 0, compiles = 0, quarantined_now = 0;  // this process
};

struct VerifyReport {
  int64_t checked = 0, good = 0;
  std::vector<std::string> quarantined;  // "file: problem"
};

class KernelCache {
 public:
  explicit KernelCache(CacheOptions options);

  // The entry of `key` from disk, or else (under the key's lock) compiled once and stored.
  CacheLookup get_or_compile(const std::string& key,
                             const std::function<CompileOutcome()>& compile);
  // The entry of `key` when the disk holds it (counted as a hit), else nullopt; nothing compiled.
  std::optional<CacheLookup> find(const std::string& key);
  // The verified entry of `key`, or nullopt (absent; a bad file is quarantined).
  std::optional<DecodedEntry> read(const std::string& key);
  // Stores an entry (temporary file, fsync, rename); false when the disk refused it.
  bool write(const std::string& key, EntryKind kind, std::string_view payload);
  // Removes least-recently-used entries until the cache is within max_bytes (`keep` stays).
  void evict(const std::string& keep = "");

  CacheStats stats() const;
  VerifyReport verify();
  void clear();
  std::string entry_path(const std::string& key) const;
  const CacheOptions& options() const { return options_; }

 private:
  void quarantine(const std::string& path, const std::string& name);
  void limit_directory(const std::string& subdir, const std::string& keep);
  void count(int64_t CacheStats::*counter);  // one more (threads may share the cache)
  CacheOptions options_;
  mutable std::mutex counters_mutex_;
  CacheStats counters_;
};

// $KASMINA_CACHE_DIR, else $XDG_CACHE_HOME/kasmina/kernels, else $HOME/.cache/kasmina/kernels.
std::string default_cache_dir();

}  // namespace kasmina::ir
