#include "data/byte_source.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.hpp"

namespace kasmina::data {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// Reads up to n bytes with fread, turning I/O errors into a UserError.
size_t read_file(std::FILE* f, const std::string& path, uint8_t* dst, size_t n) {
  const size_t got = std::fread(dst, 1, n, f);
  if (got < n && std::ferror(f)) throw UserError(path + ": read error: " + std::strerror(errno));
  return got;
}

class PlainFileSource final : public ByteSource {
 public:
  PlainFileSource(FilePtr f, std::string path, uint64_t size)
      : file_(std::move(f)), path_(std::move(path)), size_(size) {}

  size_t read(uint8_t* dst, size_t n) override {
    const size_t got = read_file(file_.get(), path_, dst, n);
    position_ += got;
    return got;
  }
  uint64_t max_remaining() const override { return position_ < size_ ? size_ - position_ : 0; }
  bool compressed() const override { return false; }

 private:
  FilePtr file_;
  std::string path_;
  uint64_t size_;
  uint64_t position_ = 0;
};

// Inflates a gzip file (one or more concatenated members, as gzip -d accepts) chunk by chunk.
// zlib checks each member's CRC-32 and length trailer.
class GzipFileSource final : public ByteSource {
 public:
  GzipFileSource(FilePtr f, std::string path, uint64_t size)
      : file_(std::move(f)), path_(std::move(path)), size_(size), input_(kChunk) {
    std::memset(&stream_, 0, sizeof stream_);
    // 15 + 16: the largest window, and expect a gzip (not zlib) wrapper.
    if (inflateInit2(&stream_, 15 + 16) != Z_OK)
      throw InternalError("zlib: inflateInit2 failed while opening " + path_);
  }
  ~GzipFileSource() override { inflateEnd(&stream_); }
  GzipFileSource(const GzipFileSource&) = delete;
  GzipFileSource& operator=(const GzipFileSource&) = delete;

  size_t read(uint8_t* dst, size_t n) override {
    size_t produced = 0;
    while (produced < n) {
      if (member_done_) {
        if (!ensure_input(2)) return produced;  // clean end of the last member
        if (stream_.next_in[0] != 0x1f || (stream_.avail_in > 1 && stream_.next_in[1] != 0x8b))
          throw UserError(path_ + ": corrupt gzip stream: " + std::to_string(compressed_left()) +
                          " bytes of non-gzip data after the end of the compressed data");
        inflateReset(&stream_);
        member_done_ = false;
      }
      if (stream_.avail_in == 0) ensure_input(1);
      const size_t room = std::min<size_t>(n - produced, UINT_MAX);
      stream_.next_out = dst + produced;
      stream_.avail_out = static_cast<uInt>(room);
      const int ret = inflate(&stream_, Z_NO_FLUSH);
      produced += room - stream_.avail_out;
      switch (ret) {
        case Z_OK:
          break;
        case Z_STREAM_END:
          member_done_ = true;
          break;
        case Z_BUF_ERROR:  // no progress possible: the input ran out inside the stream
          if (stream_.avail_in == 0 && file_ended_)
            throw UserError(path_ +
                            ": truncated gzip stream: the file ends before the compressed data "
                            "does (incomplete download?)");
          break;
        case Z_MEM_ERROR:
          throw InternalError("zlib: out of memory inflating " + path_);
        default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
          throw UserError(path_ + ": corrupt gzip stream (zlib: " +
                          (stream_.msg ? stream_.msg : "invalid data") + ")");
      }
    }
    return produced;
  }

  uint64_t max_remaining() const override {
    // Deflate expands at most ~1032:1; the slack covers output zlib holds back in its window.
    return compressed_left() * 1032 + 65536;
  }
  bool compressed() const override { return true; }

 private:
  static constexpr size_t kChunk = size_t{1} << 20;

  uint64_t compressed_left() const {
    return (file_position_ < size_ ? size_ - file_position_ : 0) + stream_.avail_in;
  }

  // Makes at least `want` input bytes available unless the file ends first; returns whether
  // any input is available.
  bool ensure_input(size_t want) {
    while (stream_.avail_in < want && !file_ended_) {
      if (stream_.avail_in > 0 && stream_.next_in != input_.data())
        std::memmove(input_.data(), stream_.next_in, stream_.avail_in);
      const size_t kept = stream_.avail_in;
      const size_t got = read_file(file_.get(), path_, input_.data() + kept, kChunk - kept);
      file_position_ += got;
      if (got == 0) file_ended_ = true;
      stream_.next_in = input_.data();
      stream_.avail_in = static_cast<uInt>(kept + got);
    }
    return stream_.avail_in > 0;
  }

  FilePtr file_;
  std::string path_;
  uint64_t size_;
  uint64_t file_position_ = 0;
  bool file_ended_ = false;
  bool member_done_ = false;
  std::vector<uint8_t> input_;
  z_stream stream_;
};

}  // namespace

std::unique_ptr<ByteSource> open_byte_source(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st))
    throw UserError(path +
                    ": no such file; set data.dir in the config, --data-dir or "
                    "KASMINA_DATA_DIR");
  if (fs::is_directory(st)) throw UserError(path + ": is a directory, expected a data file");
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) throw UserError(path + ": cannot open: " + std::strerror(errno));
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw UserError(path + ": cannot determine the file size: " + ec.message());

  uint8_t magic[2] = {0, 0};
  const size_t got = read_file(f.get(), path, magic, 2);
  if (std::fseek(f.get(), 0, SEEK_SET) != 0)
    throw UserError(path + ": cannot seek: " + std::strerror(errno));
  if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
    return std::make_unique<GzipFileSource>(std::move(f), path, size);
  return std::make_unique<PlainFileSource>(std::move(f), path, size);
}

}  // namespace kasmina::data
