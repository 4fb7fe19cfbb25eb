// TensorBoardWriter: one event file of a TensorBoard run directory (docs/FORMATS.md). Each
// writer starts a new file, events.out.tfevents.<seconds>.<host>.<pid>, whose first record is the
// file version and its second a SessionLog START; its name sorts after every event file already
// in the directory, so readers (which read a directory's files in name order) see its records
// last. Records are buffered and reach the file at flush(). Not thread-safe: one writer thread.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "io/tensorboard/record_file.hpp"

namespace kasmina::io::tb {

class TensorBoardWriter {
 public:
  // A new event file in `dir` (created with its parents when missing) whose session starts at
  // `start_step`: readers drop the records of steps >= start_step that earlier files of the
  // directory hold (a resumed run writes them again). TensorBoard's pages take the first START
  // of a run for its beginning and only a later one for a restart, so every file has one.
  explicit TensorBoardWriter(const std::filesystem::path& dir, int64_t start_step = 0);

  void scalar(const std::string& tag, int64_t step, double value);
  // The histogram of the finite values (histogram.hpp).
  void histogram(const std::string& tag, int64_t step, std::span<const double> values);
  // Markdown, shown by TensorBoard's text plugin.
  void text(const std::string& tag, int64_t step, const std::string& markdown);
  void flush() { file_.flush(); }
  const std::string& path() const { return file_.path(); }

 private:
  RecordFile file_;
};

// The name of a new event file in `dir`: events.out.tfevents.<seconds>.<host>.<pid>, where
// <seconds> (10 digits) is now, or one past the newest event file's when that is not earlier.
std::string new_event_file_name(const std::filesystem::path& dir);

}  // namespace kasmina::io::tb
