// Sequential byte readers over a file on disk: plain, or gzip-compressed (inflated on the fly
// with zlib). The IDX reader uses them so that it never holds more than the decoded payload.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kasmina::data {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `dst`; returns fewer only at the end of the data. Problems with
  // the file (read errors, corrupt or cut-off gzip streams) are a UserError naming the file.
  virtual size_t read(uint8_t* dst, size_t n) = 0;
  // An upper bound on the bytes still to come (exact for plain files). Used to size buffers
  // without trusting a possibly corrupt header.
  virtual uint64_t max_remaining() const = 0;
  // True when the file is gzip-compressed.
  virtual bool compressed() const = 0;
};

// Opens `path`, detecting gzip by its magic bytes (1f 8b). A missing file is a UserError
// telling the user how to point kasmina at the data directory.
std::unique_ptr<ByteSource> open_byte_source(const std::string& path);

}  // namespace kasmina::data
