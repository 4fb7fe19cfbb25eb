// Dataset checksums: CRC-32 (the zlib / ISO-HDLC polynomial, as computed by zlib's crc32()).
//
// Numeric arrays: the CRC of the raw little-endian element bytes in row-major order.
// String arrays: the CRC of each element's UTF-8 bytes followed by one NUL byte, in order.
// Both can be extended incrementally (append-only telemetry datasets keep a running value).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kasmina::io {

inline constexpr const char* kChecksumAlgorithm = "crc32";

// CRC-32 of `bytes` bytes at `data`, continuing from `running` (0 starts a new checksum).
uint32_t crc32_update(uint32_t running, const void* data, size_t bytes);

// CRC-32 of strings as described above, continuing from `running`.
uint32_t crc32_update_strings(uint32_t running, const std::vector<std::string>& values);

}  // namespace kasmina::io
