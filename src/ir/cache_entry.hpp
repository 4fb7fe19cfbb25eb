// One kernel-cache entry on disk: a header (magic, format version, kind, key, payload length,
// SHA-256 of the payload) and the payload (a compiled kernel, or for a negative entry the
// compiler's log). Every read verifies all of it against the key the file is stored under.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace kasmina::ir {

inline constexpr uint32_t kCacheFormatVersion = 1;
// Entry kinds, far apart in bits so that no single flipped bit turns one into the other.
enum class EntryKind : uint32_t { kernel = 0x4b524e4cu, negative = 0x4e454741u };
inline constexpr size_t kCacheHeaderSize = 8 + 4 + 4 + 32 + 8 + 32;

// The entry's bytes for `key` (64 hex digits).
std::string encode_entry(const std::string& key, EntryKind kind, std::string_view payload);

struct DecodedEntry {
  bool ok = false;
  std::string problem;  // when not ok: "truncated header", "bad magic", ...
  EntryKind kind = EntryKind::kernel;
  std::string payload;
};
// Decodes and verifies `bytes` as the entry of `key`.
DecodedEntry decode_entry(const std::string& key, std::string_view bytes);
// The same, the payload moved out of `bytes` (no copy) when they are a verified entry.
DecodedEntry decode_entry_in_place(const std::string& key, std::string&& bytes);

// A key is 64 lower-case hex digits (a SHA-256).
bool valid_key(std::string_view key);

}  // namespace kasmina::ir
