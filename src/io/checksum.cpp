#include "io/checksum.hpp"

#include <zlib.h>

#include <algorithm>
#include <limits>

namespace kasmina::io {

uint32_t crc32_update(uint32_t running, const void* data, size_t bytes) {
  uLong crc = running;
  const auto* p = static_cast<const Bytef*>(data);
  // zlib takes a uInt length: feed large buffers in slices.
  constexpr size_t kSlice = std::numeric_limits<uInt>::max() / 2;
  while (bytes > 0) {
    const size_t n = std::min(bytes, kSlice);
    crc = crc32(crc, p, static_cast<uInt>(n));
    p += n;
    bytes -= n;
  }
  return static_cast<uint32_t>(crc);
}

uint32_t crc32_update_strings(uint32_t running, const std::vector<std::string>& values) {
  const unsigned char nul = 0;
  for (const std::string& s : values) {
    running = crc32_update(running, s.data(), s.size());
    running = crc32_update(running, &nul, 1);
  }
  return running;
}

}  // namespace kasmina::io
