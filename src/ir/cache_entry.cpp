#include "ir/cache_entry.hpp"

#include <cstring>

#include "core/sha256.hpp"

namespace kasmina::ir {

namespace {

constexpr char kMagic[8] = {'K', 'S', 'M', 'K', 'E', 'R', 'N', '1'};

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t get_le(std::string_view b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

int hex_digit(char c) {
  return c <= '9' ? c - '0' : c - 'a' + 10;  // valid_key: lower-case hex digits
}

std::string key_bytes(const std::string& key) {
  std::string out(key.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(hex_digit(key[2 * i]) * 16 + hex_digit(key[2 * i + 1]));
  return out;
}

}  // namespace

bool valid_key(std::string_view key) {
  if (key.size() != 64) return false;
  for (char c : key)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string encode_entry(const std::string& key, EntryKind kind, std::string_view payload) {
  std::string out(kMagic, sizeof kMagic);
  put_u32(out, kCacheFormatVersion);
  put_u32(out, static_cast<uint32_t>(kind));
  out += key_bytes(key);
  put_u64(out, payload.size());
  const Sha256Digest d = sha256(payload);
  out.append(reinterpret_cast<const char*>(d.data()), d.size());
  out.append(payload.data(), payload.size());
  return out;
}

namespace {

// Why `b` is not a verified entry of `key` (empty when it is one).
std::string problem_of(const std::string& key, std::string_view b) {
  if (b.size() < kCacheHeaderSize)
    return "truncated header (" + std::to_string(b.size()) + " bytes)";
  if (std::memcmp(b.data(), kMagic, sizeof kMagic) != 0) return "not a kernel-cache entry";
  const uint32_t version = static_cast<uint32_t>(get_le(b, 8, 4));
  if (version != kCacheFormatVersion)
    return "format version " + std::to_string(version) + " (this build reads " +
           std::to_string(kCacheFormatVersion) + ")";
  const uint32_t kind = static_cast<uint32_t>(get_le(b, 12, 4));
  if (kind != static_cast<uint32_t>(EntryKind::kernel) &&
      kind != static_cast<uint32_t>(EntryKind::negative))
    return "unknown entry kind";
  if (b.substr(16, 32) != key_bytes(key)) return "the entry of another key";
  const uint64_t length = get_le(b, 48, 8);
  if (length != b.size() - kCacheHeaderSize)
    return "payload length " + std::to_string(length) + " but " +
           std::to_string(b.size() - kCacheHeaderSize) + " bytes follow the header";
  const Sha256Digest d = sha256(b.substr(kCacheHeaderSize));
  if (std::memcmp(d.data(), b.data() + 56, 32) != 0) return "payload checksum mismatch";
  return "";
}

// The entry of `b`, verified by problem_of; its payload still to be filled in.
DecodedEntry checked(const std::string& key, std::string_view b) {
  DecodedEntry e;
  e.problem = problem_of(key, b);
  e.ok = e.problem.empty();
  if (e.ok) e.kind = static_cast<EntryKind>(get_le(b, 12, 4));
  return e;
}

}  // namespace

DecodedEntry decode_entry(const std::string& key, std::string_view b) {
  DecodedEntry e = checked(key, b);
  if (e.ok) e.payload = std::string(b.substr(kCacheHeaderSize));
  return e;
}

DecodedEntry decode_entry_in_place(const std::string& key, std::string&& b) {
  DecodedEntry e = checked(key, b);
  if (e.ok) {
    b.erase(0, kCacheHeaderSize);  // the payload moves up in place: no second allocation
    e.payload = std::move(b);
  }
  return e;
}

}  // namespace kasmina::ir
