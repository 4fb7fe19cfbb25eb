#include "idx_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <stdexcept>

#include "core/rng.hpp"

namespace kasmina::datatest {

ScratchDir::ScratchDir() {
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "x";
  path_ = std::filesystem::temp_directory_path() / ("kasmina-data-" + std::to_string(::getpid()) +
                                                    "-" + std::to_string(counter++) + "-" + test);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                               uint8_t type) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes) {
  // deflateInit2 with windowBits 15 + 16 writes a gzip wrapper.
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 64);
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int ret = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (ret != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  return out;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

void write_idx(const std::string& path, const std::vector<uint32_t>& dims,
               const std::vector<uint8_t>& data, bool gzip) {
  const std::vector<uint8_t> raw = idx_bytes(dims, data);
  if (!gzip) {
    write_file(path, raw);
    return;
  }
  // The gzip file API, so the files look like those gzip(1) writes.
  gzFile g = gzopen(path.c_str(), "wb6");
  if (!g) throw std::runtime_error("gzopen failed for " + path);
  const int written = gzwrite(g, raw.data(), static_cast<unsigned>(raw.size()));
  const int closed = gzclose(g);
  if (written != static_cast<int>(raw.size()) || closed != Z_OK)
    throw std::runtime_error("gzwrite failed for " + path);
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed, uint32_t below) {
  Rng rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng.below(below));
  return v;
}

}  // namespace kasmina::datatest
