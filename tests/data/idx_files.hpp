// Test helpers: a scratch directory and writers for IDX files, plain or gzip-compressed
// (written with zlib's gzip file API, independent of the reader under test).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kasmina::datatest {

// A fresh directory under the system temp dir, removed with its contents on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The bytes of an IDX file: 0, 0, type, ndim, big-endian u32 dims, then `data`.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                               uint8_t type = 0x08);
// `bytes` gzip-compressed as one member.
std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes);

void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
// Writes an unsigned-byte IDX file, gzip-compressed when `gzip`.
void write_idx(const std::string& path, const std::vector<uint32_t>& dims,
               const std::vector<uint8_t>& data, bool gzip);

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed, uint32_t below = 256);

}  // namespace kasmina::datatest
