// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing, and
// its masked form: TFRecord stores masked CRCs so that a CRC of bytes that themselves hold CRCs
// does not degenerate (mask(c) = ((c >> 15) | (c << 17)) + 0xA282EAD8, mod 2^32).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kasmina::io::tb {

// Continues `crc` (the CRC-32C of the bytes before) over `n` more bytes; crc32c_extend(0, ...)
// is the CRC-32C of the bytes alone.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);

inline uint32_t crc32c(std::string_view bytes) {
  return crc32c_extend(0, bytes.data(), bytes.size());
}

inline uint32_t mask_crc32c(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

inline uint32_t masked_crc32c(std::string_view bytes) {
  return mask_crc32c(crc32c(bytes));
}

}  // namespace kasmina::io::tb
