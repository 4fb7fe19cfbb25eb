// SHA-256 through OpenSSL's EVP digest interface (sha256.hpp).
#include "core/sha256.hpp"

#include <openssl/evp.h>

#include "core/error.hpp"

namespace kasmina {

namespace {
// The digest's implementation, fetched from OpenSSL's providers once (EVP_sha256() fetches it
// again on every digest started: 0.98 against 0.35 us for a digest of 64 bytes); kept to the end.
const EVP_MD* sha256_method() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return md;
}
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, sha256_method(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw InternalError("SHA-256: libcrypto could not start a digest");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

void Sha256::update(const void* data, size_t n) {
  if (n > 0 && EVP_DigestUpdate(ctx_, data, n) != 1)
    throw InternalError("SHA-256: libcrypto failed to hash " + std::to_string(n) + " bytes");
}

Sha256Digest Sha256::finish() {
  Sha256Digest d{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, d.data(), &len) != 1 || len != d.size())
    throw InternalError("SHA-256: libcrypto failed to finish a digest");
  return d;
}

Sha256Digest sha256(std::string_view data) {
  Sha256 s;
  s.update(data);
  return s.finish();
}

std::string to_hex(const Sha256Digest& d) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : d) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  return to_hex(sha256(data));
}

}  // namespace kasmina
