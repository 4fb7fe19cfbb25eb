// SHA-256 (FIPS 180-4): the content hash of blueprint IR and of kernel-cache entries. Small and
// dependency-free; tests/core/test_sha256.cpp checks it against the NIST example vectors.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kasmina {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  Sha256Digest finish();  // the object must not be updated after this

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

Sha256Digest sha256(std::string_view data);
// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Sha256Digest& d);
std::string sha256_hex(std::string_view data);

}  // namespace kasmina
