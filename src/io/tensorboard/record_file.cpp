#include "io/tensorboard/record_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <iostream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/tensorboard/crc32c.hpp"

namespace kasmina::io::tb {

namespace {

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

}  // namespace

void append_record(std::string& out, std::string_view data) {
  std::string header;
  put_le(header, data.size(), 8);
  out += header;
  put_le(out, masked_crc32c(header), 4);
  out.append(data);
  put_le(out, masked_crc32c(data), 4);
}

RecordFile::RecordFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError("cannot write " + path_ + ": create: " + errno_text(errno));
}

RecordFile::~RecordFile() {
  try {
    flush();
  } catch (const std::exception& e) {
    std::cerr << "kasmina: warning: " << e.what() << "\n";
  }
  ::close(fd_);
}

void RecordFile::flush() {
  size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      pending_.erase(0, done);
      throw IoError("cannot write " + path_ + ": " + errno_text(err));
    }
    done += static_cast<size_t>(n);
  }
  pending_.clear();
}

}  // namespace kasmina::io::tb
