// Fuzz target: the IDX reader over plain and gzip files. With the first input byte odd, the
// rest is gzip-compressed here first, so the fuzzer explores the IDX layout behind a valid gzip
// stream as well as damaged gzip streams (the rest as is). Each file is read as any IDX array
// and as Fashion-MNIST images. A bad file must be a UserError; anything else is a finding.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "fuzz_input_file.hpp"

namespace {

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    std::abort();
  std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(size)) + 64);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

const kasmina::IdxShape kImages{{28, 28}, 1'000'000, "images", "images"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> bytes(data + 1, data + size);
  if (data[0] & 1) bytes = gzip(bytes.data(), bytes.size());
  const std::string path = kasmina::fuzz::input_file(bytes.data(), bytes.size());
  for (const kasmina::IdxShape* shape :
       {static_cast<const kasmina::IdxShape*>(nullptr), &kImages}) {
    try {
      const kasmina::IdxArray a = shape ? kasmina::read_idx(path, *shape) : kasmina::read_idx(path);
      size_t n = 1;
      for (const int64_t d : a.dims) n *= static_cast<size_t>(d);
      if (n != a.data.size()) std::abort();  // the data must be exactly what the header says
    } catch (const kasmina::UserError&) {
    }
  }
  return 0;
}
