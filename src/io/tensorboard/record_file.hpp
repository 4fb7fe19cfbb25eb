// TFRecord framing and the file that holds the records. A record is
//   uint64 length | uint32 masked CRC-32C of the 8 length bytes | data | uint32 masked CRC-32C of
//   the data
// all little-endian. RecordFile keeps appended records in memory and writes them at flush() with
// write(2), so a reader polling the file sees whole records, and at most a torn last record
// when the process dies inside a write (a reader treats it as truncated and keeps the others).
#pragma once
#include <string>
#include <string_view>

namespace kasmina::io::tb {

// Appends `data` framed as one record to `out`.
void append_record(std::string& out, std::string_view data);

class RecordFile {
 public:
  // Creates `path`; IoError ("cannot write PATH: create: ...") if it exists or cannot be created.
  explicit RecordFile(std::string path);
  // Writes what is still buffered; an error at this point goes to stderr, never thrown.
  ~RecordFile();
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  void append(std::string_view data) { append_record(pending_, data); }
  // Writes the buffered records to the file; IoError on failure, as the other files of a run
  // ("cannot write PATH: no space left on device"), so the run ends with that line, exit 1.
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string pending_;
};

}  // namespace kasmina::io::tb
