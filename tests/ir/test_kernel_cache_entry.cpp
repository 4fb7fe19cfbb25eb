// Kernel-cache entries: a round trip, and every kind of corruption detected, quarantined and
// treated as a miss (then recompiled), never loaded: truncation at each byte, a flipped bit at
// each byte, an empty file, another format version, another key's entry under this key.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "cache_test_util.hpp"

namespace kasmina::ir {
namespace {

using testing::CacheDir;
using testing::key_of;
using testing::write_file;

const std::string kPayload = "cubin:add_one";

TEST(KernelCacheEntry, RoundTripAndStats) {
  CacheDir dir;
  KernelCache cache(dir.options());
  const std::string key = key_of("a");
  EXPECT_FALSE(cache.read(key));
  ASSERT_TRUE(cache.write(key, EntryKind::kernel, kPayload));
  const std::optional<DecodedEntry> e = cache.read(key);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->payload, kPayload);
  EXPECT_EQ(e->kind, EntryKind::kernel);
  EXPECT_EQ(cache.entry_path(key), dir.path() + "/entries/" + key.substr(0, 2) + "/" + key);
  ASSERT_TRUE(cache.write(key_of("b"), EntryKind::negative, "error: no such op"));
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.entries, 2);
  EXPECT_EQ(s.negative, 1);
  EXPECT_EQ(s.bytes, static_cast<int64_t>(2 * kCacheHeaderSize + kPayload.size() + 17));
  EXPECT_EQ(s.temporary, 0);
}

// Payloads of random bytes (NULs included) around the sizes where reading could need a second
// buffer come back whole from the disk, and the in-place decoder gives what the copying one does.
TEST(KernelCacheEntry, PayloadsOfEverySizeComeBackWhole) {
  CacheDir dir;
  KernelCache cache(dir.options());
  std::mt19937 rng(std::random_device{}());
  for (size_t n : {size_t(0), size_t(1), size_t(4095), size_t(4096 - kCacheHeaderSize),
                   size_t(4096), size_t(65536 - kCacheHeaderSize), size_t(65536 + 7)}) {
    std::string payload(n, '\0');
    for (char& c : payload) c = static_cast<char>(rng());
    const std::string key = key_of("size" + std::to_string(n));
    ASSERT_TRUE(cache.write(key, EntryKind::kernel, payload));
    const std::optional<DecodedEntry> e = cache.read(key);
    ASSERT_TRUE(e) << n;
    EXPECT_EQ(e->payload, payload) << n;
    const std::string bytes = encode_entry(key, EntryKind::kernel, payload);
    DecodedEntry moved = decode_entry_in_place(key, std::string(bytes));
    ASSERT_TRUE(moved.ok) << n;
    EXPECT_EQ(moved.payload, decode_entry(key, bytes).payload) << n;
    std::string flipped = bytes;
    flipped[flipped.size() - 1] = static_cast<char>(flipped.back() ^ 1);
    const DecodedEntry bad = decode_entry_in_place(key, std::move(flipped));
    EXPECT_FALSE(bad.ok) << n;
    EXPECT_EQ(bad.problem, "payload checksum mismatch") << n;  // the last byte: payload or digest
  }
}

// Writes `bytes` under the final name of `key`, reads: a miss, the file in quarantine.
void expect_refused(KernelCache& cache, const std::string& key, const std::string& bytes,
                    const std::string& what) {
  write_file(cache.entry_path(key), bytes);
  const int64_t before = cache.stats().quarantined;
  EXPECT_FALSE(cache.read(key)) << what;
  EXPECT_FALSE(std::filesystem::exists(cache.entry_path(key))) << what;
  EXPECT_EQ(cache.stats().quarantined, before + 1) << what;
}

TEST(KernelCacheEntry, TruncationAtEveryByteIsRefused) {
  CacheDir dir;
  KernelCache cache(dir.options());
  const std::string key = key_of("t");
  const std::string full = encode_entry(key, EntryKind::kernel, kPayload);
  for (size_t n = 0; n < full.size(); ++n)
    expect_refused(cache, key, full.substr(0, n), "truncated to " + std::to_string(n));
  EXPECT_EQ(decode_entry(key, "").problem, "truncated header (0 bytes)");
}

TEST(KernelCacheEntry, AFlippedBitAnywhereIsRefused) {
  CacheDir dir;
  KernelCache cache(dir.options());
  const std::string key = key_of("f");
  const std::string full = encode_entry(key, EntryKind::kernel, kPayload);
  for (size_t i = 0; i < full.size(); ++i)
    for (int bit : {0, 5}) {
      std::string bad = full;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      expect_refused(cache, key, bad,
                     "bit " + std::to_string(bit) + " of byte " + std::to_string(i));
    }
}

TEST(KernelCacheEntry, WrongVersionAndAnotherKeysEntryAreRefused) {
  CacheDir dir;
  KernelCache cache(dir.options());
  const std::string key = key_of("v"), other = key_of("w");
  std::string v2 = encode_entry(key, EntryKind::kernel, kPayload);
  v2[8] = 2;
  EXPECT_EQ(decode_entry(key, v2).problem, "format version 2 (this build reads 1)");
  expect_refused(cache, key, v2, "version 2");
  const std::string theirs = encode_entry(other, EntryKind::kernel, "cubin:other");
  EXPECT_EQ(decode_entry(key, theirs).problem, "the entry of another key");
  expect_refused(cache, key, theirs, "another key's entry");
  // This key's header with another entry's payload (same length).
  std::string mixed = encode_entry(key, EntryKind::kernel, "cubin:aaaaaa");
  mixed.replace(kCacheHeaderSize, 12, "cubin:bbbbbb");
  EXPECT_EQ(decode_entry(key, mixed).problem, "payload checksum mismatch");
  expect_refused(cache, key, mixed, "another payload");
}

TEST(KernelCacheEntry, ACorruptEntryIsRecompiledAndVerifyQuarantinesForeignFiles) {
  CacheDir dir;
  KernelCache cache(dir.options());
  const std::string key = key_of("r");
  int compiles = 0;
  auto compile = [&] {
    ++compiles;
    return CompileOutcome{true, kPayload, ""};
  };
  EXPECT_EQ(cache.get_or_compile(key, compile).source, CacheSource::compiled);
  EXPECT_EQ(cache.get_or_compile(key, compile).source, CacheSource::disk);
  EXPECT_EQ(compiles, 1);
  write_file(cache.entry_path(key), "garbage");
  const CacheLookup again = cache.get_or_compile(key, compile);
  EXPECT_EQ(again.source, CacheSource::compiled);
  EXPECT_EQ(again.payload, kPayload);
  EXPECT_EQ(compiles, 2);
  // verify: every entry checked; a foreign file and a truncated entry go to quarantine.
  write_file(dir.path() + "/entries/zz/notes.txt", "hello");
  const std::string k2 = key_of("s");
  write_file(cache.entry_path(k2), encode_entry(k2, EntryKind::kernel, "x").substr(0, 20));
  const VerifyReport r = cache.verify();
  EXPECT_EQ(r.checked, 3);
  EXPECT_EQ(r.good, 1);
  ASSERT_EQ(r.quarantined.size(), 2u);
  EXPECT_EQ(cache.stats().entries, 1);
  cache.clear();
  EXPECT_EQ(cache.stats().entries, 0);
  EXPECT_EQ(cache.stats().quarantined, 0);
}

TEST(KernelCacheEntry, AFailedCompileIsCachedWithItsLog) {
  CacheDir dir;
  KernelCache cache(dir.options());
  const std::string key = key_of("n");
  int compiles = 0;
  auto failing = [&] {
    ++compiles;
    return CompileOutcome{false, "", "kernel.cu(3): error: identifier \"q\" is undefined"};
  };
  const CacheLookup first = cache.get_or_compile(key, failing);
  EXPECT_FALSE(first.ok);
  const CacheLookup second = cache.get_or_compile(key, failing);
  EXPECT_FALSE(second.ok);
  EXPECT_EQ(second.source, CacheSource::disk);
  EXPECT_EQ(second.payload, "kernel.cu(3): error: identifier \"q\" is undefined");
  EXPECT_EQ(compiles, 1);
}

}  // namespace
}  // namespace kasmina::ir
