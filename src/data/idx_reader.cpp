// read_idx: the IDX format of the MNIST family. Header: two zero bytes, the element type
// (0x08 = unsigned byte), the number of dimensions, then each dimension as a big-endian u32;
// the row-major data follows and must end exactly where the header says.
#include <algorithm>
#include <cstdio>
#include <string>

#include "core/enum_table.hpp"
#include "core/error.hpp"
#include "data/byte_source.hpp"
#include "data/dataset.hpp"

namespace kasmina {

namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr int kMaxDims = 8;
// Larger payloads mean a corrupt header (Fashion-MNIST's largest file holds 47 MB).
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 32;

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

constexpr EnumTable<uint8_t, 6> kIdxTypeNames{{
    {"unsigned byte", 0x08},
    {"signed byte", 0x09},
    {"int16", 0x0B},
    {"int32", 0x0C},
    {"float32", 0x0D},
    {"float64", 0x0E},
}};

const char* idx_type_name(uint8_t t) {
  return enum_name(kIdxTypeNames, t, "unknown");
}

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Reads exactly n header bytes or reports a truncated header.
void read_header_bytes(data::ByteSource& src, const std::string& path, uint8_t* dst, size_t n,
                       size_t already, size_t header_size) {
  const size_t got = src.read(dst, n);
  if (got == n) return;
  if (already + got == 0)
    throw UserError(path + ": empty file, expected an IDX header" +
                    (src.compressed() ? " inside the gzip stream" : ""));
  throw UserError(path + ": truncated: the IDX header needs " + std::to_string(header_size) +
                  " bytes, the file holds " + std::to_string(already + got));
}

// The header's dimensions against what the caller expects, before any data is read.
void check_shape(const std::string& path, const std::vector<int64_t>& dims, const IdxShape& shape) {
  bool ok = dims.size() == 1 + shape.item_dims.size();
  for (size_t i = 0; ok && i < shape.item_dims.size(); ++i) ok = dims[i + 1] == shape.item_dims[i];
  if (!ok)
    throw UserError(path + ": expected " + shape.expected + ", found dims " + dims_str(dims));
  if (dims[0] > shape.max_items)
    throw UserError(path + ": IDX header declares " + std::to_string(dims[0]) + " " + shape.items +
                    ", more than the " + std::to_string(shape.max_items) +
                    " kasmina reads from one file (corrupt header?)");
}

// Refuses data past the declared end. Reading stops at the first such byte: a gzip stream
// that inflates to far more than the header declares is not inflated any further.
void reject_trailing(data::ByteSource& src, const std::string& path, size_t expected,
                     const std::vector<int64_t>& dims) {
  uint8_t extra = 0;
  if (src.read(&extra, 1) == 0) return;
  const std::string declared =
      std::to_string(expected) + " bytes the IDX header " + dims_str(dims) + " declares";
  if (!src.compressed())
    throw UserError(path + ": " + std::to_string(1 + src.max_remaining()) +
                    " bytes of trailing data after the " + declared);
  throw UserError(path + ": trailing data: the gzip stream inflates to more than the " + declared +
                  " (inflating stopped there)");
}

IdxArray read_idx_checked(const std::string& path, const IdxShape* shape) {
  std::unique_ptr<data::ByteSource> src = data::open_byte_source(path);

  uint8_t magic[4];
  read_header_bytes(*src, path, magic, 4, 0, 4);
  if (magic[0] != 0 || magic[1] != 0)
    throw UserError(path + ": not an IDX file" + (src->compressed() ? "" : " (nor gzip)") +
                    ": it starts with " + hex_byte(magic[0]) + " " + hex_byte(magic[1]) + " " +
                    hex_byte(magic[2]) + " " + hex_byte(magic[3]) +
                    ", expected 0x00 0x00 <type> <ndim>");
  if (magic[2] != kUnsignedByte)
    throw UserError(path + ": unsupported IDX element type " + hex_byte(magic[2]) + " (" +
                    idx_type_name(magic[2]) + "); only 0x08 (unsigned byte) is supported");
  const int ndim = magic[3];
  if (ndim < 1 || ndim > kMaxDims)
    throw UserError(path + ": IDX header declares " + std::to_string(ndim) +
                    " dimensions (allowed: 1.." + std::to_string(kMaxDims) + ")");

  const size_t header_size = 4 + 4 * static_cast<size_t>(ndim);
  uint8_t raw_dims[4 * kMaxDims];
  read_header_bytes(*src, path, raw_dims, 4 * static_cast<size_t>(ndim), 4, header_size);

  IdxArray out;
  for (int i = 0; i < ndim; ++i) {
    const uint8_t* b = raw_dims + 4 * i;
    out.dims.push_back(static_cast<int64_t>((uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) |
                                            (uint64_t{b[2]} << 8) | uint64_t{b[3]}));
  }
  if (shape) check_shape(path, out.dims, *shape);
  uint64_t payload = 1;
  for (const int64_t d : out.dims) {
    // Multiplying a u32 into a product that is <= 2^32 cannot overflow 64 bits.
    payload *= static_cast<uint64_t>(d);
    if (payload > kMaxPayloadBytes)
      throw UserError(path + ": IDX header declares dimensions " + dims_str(out.dims) +
                      ", more than the " + std::to_string(kMaxPayloadBytes) +
                      " bytes kasmina accepts (corrupt header?)");
  }

  // Size the buffer by what the file can possibly hold, not by the header alone, so a corrupt
  // header cannot trigger a huge allocation; grow only while data keeps arriving.
  const size_t expected = static_cast<size_t>(payload);
  size_t got = 0;
  out.data.resize(static_cast<size_t>(std::min<uint64_t>(payload, src->max_remaining())));
  got = src->read(out.data.data(), out.data.size());
  while (got == out.data.size() && got < expected) {
    out.data.resize(std::min(expected, std::max<size_t>(2 * out.data.size(), 1 << 16)));
    got += src->read(out.data.data() + got, out.data.size() - got);
  }
  if (got < expected) {
    throw UserError(path + ": truncated: expected " + std::to_string(expected) +
                    " bytes of data after the header, found " + std::to_string(got));
  }
  reject_trailing(*src, path, expected, out.dims);
  return out;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  return read_idx_checked(path, nullptr);
}

IdxArray read_idx(const std::string& path, const IdxShape& shape) {
  return read_idx_checked(path, &shape);
}

}  // namespace kasmina
