#include "gzip_bomb.hpp"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace kasmina::datatest {

namespace {

constexpr uint64_t kBlock = uint64_t{64} << 20;

// One gzip member: `prefix`, then `zeros` zero bytes, deflated in 1 MiB steps.
std::string gzip_member(const std::vector<uint8_t>& prefix, uint64_t zeros) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  const std::vector<uint8_t> chunk(1 << 20, 0);
  std::string out;
  std::vector<uint8_t> buffer(1 << 16);
  auto feed = [&](const uint8_t* data, size_t n, int flush) {
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = static_cast<uInt>(n);
    int ret = Z_OK;
    do {
      z.next_out = buffer.data();
      z.avail_out = static_cast<uInt>(buffer.size());
      ret = deflate(&z, flush);
      if (ret == Z_STREAM_ERROR) throw std::runtime_error("deflate failed");
      out.append(reinterpret_cast<const char*>(buffer.data()), buffer.size() - z.avail_out);
    } while (z.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
  };
  feed(prefix.data(), prefix.size(), Z_NO_FLUSH);
  for (uint64_t left = zeros; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
    feed(chunk.data(), n, Z_NO_FLUSH);
    left -= n;
  }
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&z);
  return out;
}

}  // namespace

void write_idx_gzip_bomb(const std::string& path, const std::vector<uint32_t>& dims,
                         uint64_t zero_bytes) {
  std::vector<uint8_t> header = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (const uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<uint8_t>(d >> shift));
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << gzip_member(header, zero_bytes % kBlock);
  if (zero_bytes >= kBlock) {
    const std::string block = gzip_member({}, kBlock);
    for (uint64_t i = 0; i < zero_bytes / kBlock; ++i) f << block;
  }
  if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace kasmina::datatest
