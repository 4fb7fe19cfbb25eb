// SHA-256 (FIPS 180-4): the content hash of blueprint IR and of kernel-cache entries, through
// OpenSSL's libcrypto (EVP interface), which uses the CPU's SHA instructions where it has them:
// a kernel-cache hit hashes the whole cubin (~250 KB) to verify it, which the portable code
// this replaced took ~1 ms for. tests/core/test_sha256.cpp checks the NIST example vectors.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace kasmina {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  Sha256Digest finish();  // the object must not be updated after this

 private:
  evp_md_ctx_st* ctx_;
};

Sha256Digest sha256(std::string_view data);
// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Sha256Digest& d);
std::string sha256_hex(std::string_view data);

}  // namespace kasmina
