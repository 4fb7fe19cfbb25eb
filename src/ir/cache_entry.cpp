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

std::string key_bytes(const std::string& key) {
  std::string out;
  for (size_t i = 0; i + 1 < key.size(); i += 2)
    out += static_cast<char>(std::stoi(key.substr(i, 2), nullptr, 16));
  return out;
}

DecodedEntry bad(const std::string& problem) {
  DecodedEntry e;
  e.problem = problem;
  return e;
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

DecodedEntry decode_entry(const std::string& key, std::string_view b) {
  if (b.size() < kCacheHeaderSize)
    return bad("truncated header (" + std::to_string(b.size()) + " bytes)");
  if (std::memcmp(b.data(), kMagic, sizeof kMagic) != 0) return bad("not a kernel-cache entry");
  const uint32_t version = static_cast<uint32_t>(get_le(b, 8, 4));
  if (version != kCacheFormatVersion)
    return bad("format version " + std::to_string(version) + " (this build reads " +
               std::to_string(kCacheFormatVersion) + ")");
  const uint32_t kind = static_cast<uint32_t>(get_le(b, 12, 4));
  if (kind != static_cast<uint32_t>(EntryKind::kernel) &&
      kind != static_cast<uint32_t>(EntryKind::negative))
    return bad("unknown entry kind");
  if (b.substr(16, 32) != key_bytes(key)) return bad("the entry of another key");
  const uint64_t length = get_le(b, 48, 8);
  if (length != b.size() - kCacheHeaderSize)
    return bad("payload length " + std::to_string(length) + " but " +
               std::to_string(b.size() - kCacheHeaderSize) + " bytes follow the header");
  const std::string_view payload = b.substr(kCacheHeaderSize);
  const Sha256Digest d = sha256(payload);
  if (std::memcmp(d.data(), b.data() + 56, 32) != 0) return bad("payload checksum mismatch");
  DecodedEntry e;
  e.ok = true;
  e.kind = static_cast<EntryKind>(kind);
  e.payload = std::string(payload);
  return e;
}

}  // namespace kasmina::ir
