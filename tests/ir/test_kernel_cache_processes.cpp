// The kernel cache between processes, with a fake compiler: 8 forked children asking for the
// same keys together compile each key exactly once (the others wait and load it); a process
// killed with SIGKILL while writing leaves no entry under a final name and no held lock; the
// size cap evicts the least recently used entries; a directory keeps at most its entry limit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "cache_test_util.hpp"

namespace kasmina::ir {
namespace {

using testing::CacheDir;
using testing::key_of;

int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(KernelCacheProcesses, EightChildrenCompileEachKeyOnce) {
  CacheDir dir;
  const std::string log = dir.path() + "/compiles.log";
  std::vector<std::string> keys;
  for (int k = 0; k < 4; ++k) keys.push_back(key_of("kernel " + std::to_string(k)));
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int c = 0; c < 8; ++c) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char byte;
      (void)::read(go[0], &byte, 1);  // all start when the parent closes the pipe
      KernelCache cache(dir.options());
      bool all_ok = true;
      for (int k = 0; k < 4; ++k) {
        const std::string& key = keys[static_cast<size_t>((k + c) % 4)];
        const CacheLookup r = cache.get_or_compile(key, [&] {
          const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
          const std::string line = key + "\n";
          (void)::write(fd, line.data(), line.size());
          ::close(fd);
          std::this_thread::sleep_for(std::chrono::milliseconds(40));
          return CompileOutcome{true, "compiled " + key, ""};
        });
        all_ok = all_ok && r.ok && r.payload == "compiled " + key;
      }
      ::_exit(all_ok ? 0 : 3);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);
  for (pid_t pid : children) EXPECT_EQ(wait_child(pid), 0);
  std::map<std::string, int> compiles;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) ++compiles[line];
  ASSERT_EQ(compiles.size(), 4u);
  for (const auto& [key, n] : compiles) EXPECT_EQ(n, 1) << key;
  KernelCache cache(dir.options());
  EXPECT_EQ(cache.stats().entries, 4);
  EXPECT_EQ(cache.stats().temporary, 0);
}

TEST(KernelCacheProcesses, KillDuringAWriteLeavesNoEntryAndNoLock) {
  CacheDir dir;
  const std::string key = key_of("killed");
  const std::string marker = dir.path() + "/writing";
  const pid_t pid = ::fork();
  if (pid == 0) {
    CacheOptions o = dir.options();
    o.before_publish = [&](const std::string&) {
      std::ofstream(marker) << "x";
      while (true) ::pause();  // killed here, its bytes in a temporary file
    };
    KernelCache cache(o);
    cache.get_or_compile(key, [] { return CompileOutcome{true, std::string(4096, 'k'), ""}; });
    ::_exit(0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (!std::filesystem::exists(marker) &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(std::filesystem::exists(marker));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
  CacheOptions o = dir.options();
  o.lock_wait = std::chrono::milliseconds(5000);
  KernelCache cache(o);
  EXPECT_FALSE(std::filesystem::exists(cache.entry_path(key)));
  EXPECT_EQ(cache.stats().temporary, 1);
  EXPECT_FALSE(cache.read(key));
  const auto t1 = std::chrono::steady_clock::now();
  const CacheLookup r = cache.get_or_compile(key, [] { return CompileOutcome{true, "fresh", ""}; });
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(2)) << "lock released";
  EXPECT_EQ(r.source, CacheSource::compiled);
  EXPECT_EQ(cache.read(key)->payload, "fresh");
}

void pause_for_mtime() {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

TEST(KernelCacheProcesses, SizeCapEvictsTheLeastRecentlyUsed) {
  CacheDir dir;
  CacheOptions o = dir.options();
  const std::string payload(100, 'p');
  o.max_bytes = 3 * (kCacheHeaderSize + payload.size());
  o.touch_after = std::chrono::seconds(0);  // every hit marks its entry
  KernelCache cache(o);
  auto compile = [&] { return CompileOutcome{true, payload, ""}; };
  const std::string k1 = key_of("1"), k2 = key_of("2"), k3 = key_of("3"), k4 = key_of("4");
  for (const std::string& k : {k1, k2, k3}) {
    cache.get_or_compile(k, compile);
    pause_for_mtime();
  }
  EXPECT_EQ(cache.get_or_compile(k1, compile).source, CacheSource::disk);  // k2 is now oldest
  pause_for_mtime();
  cache.get_or_compile(k4, compile);
  EXPECT_TRUE(cache.read(k1));
  EXPECT_FALSE(std::filesystem::exists(cache.entry_path(k2)));
  EXPECT_TRUE(cache.read(k3));
  EXPECT_TRUE(cache.read(k4));
  EXPECT_EQ(cache.stats().bytes, static_cast<int64_t>(o.max_bytes));
}

// A hit marks its entry most recently used only when the mark is older than touch_after (60 s
// by default): a recent entry's time is left as it is, an old one's is set to now.
TEST(KernelCacheProcesses, AHitMarksAnEntryThatWasNotMarkedRecently) {
  namespace fs = std::filesystem;
  CacheDir dir;
  KernelCache cache(dir.options());
  const std::string recent = key_of("recent"), old = key_of("old");
  ASSERT_TRUE(cache.write(recent, EntryKind::kernel, "r"));
  ASSERT_TRUE(cache.write(old, EntryKind::kernel, "o"));
  const fs::file_time_type written = fs::last_write_time(cache.entry_path(recent));
  const fs::file_time_type long_ago = written - std::chrono::hours(2);
  fs::last_write_time(cache.entry_path(old), long_ago);
  pause_for_mtime();
  ASSERT_TRUE(cache.read(recent));
  ASSERT_TRUE(cache.read(old));
  EXPECT_EQ(fs::last_write_time(cache.entry_path(recent)), written);
  EXPECT_GT(fs::last_write_time(cache.entry_path(old)), long_ago + std::chrono::hours(1));
}

TEST(KernelCacheProcesses, ADirectoryHoldsAtMostItsEntryLimit) {
  CacheDir dir;
  CacheOptions o = dir.options();
  o.max_entries_per_dir = 3;
  KernelCache cache(o);
  std::vector<std::string> same_dir;  // keys with the same first two digits
  for (int i = 0; same_dir.size() < 4; ++i) {
    const std::string k = key_of(std::to_string(i));
    if (k.rfind("00", 0) == 0) same_dir.push_back(k);
  }
  for (const std::string& k : same_dir) {
    ASSERT_TRUE(cache.write(k, EntryKind::kernel, "x"));
    pause_for_mtime();
  }
  EXPECT_EQ(cache.stats().entries, 3);
  EXPECT_FALSE(std::filesystem::exists(cache.entry_path(same_dir[0])));  // the oldest went
  EXPECT_TRUE(cache.read(same_dir[3]));
}

}  // namespace
}  // namespace kasmina::ir
