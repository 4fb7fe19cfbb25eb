// Writing a file so that a crash, a kill or a full disk at any moment leaves either the complete
// new file or the previous one under the final name, never a half file: the bytes go to a
// temporary file in the same directory (".NAME.tmp-PID"), which is fsynced, renamed over the
// final name, and the directory is fsynced. Every failure of the system (no space left on device,
// file too large, I/O error) removes the temporary file and throws IoError
// "cannot write PATH: no space left on device".
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace kasmina::io {

// "DIR/.NAME.tmp-PID" for "DIR/NAME" (this process's temporary file for `path`).
std::string temporary_path_for(const std::string& path);

// Writes `size` bytes at `data` to `path` as described above, creating the directory when
// missing. `midway`, when given, runs after half of the bytes reached the temporary file
// (fault-injection hook of the crash tests).
void write_file_atomically(const std::string& path, const void* data, size_t size,
                           const std::function<void()>& midway = {});
inline void write_file_atomically(const std::string& path, const std::string& contents) {
  write_file_atomically(path, contents.data(), contents.size());
}

// strerror(err) starting in lower case ("no space left on device"), for messages.
std::string errno_text(int err);

}  // namespace kasmina::io
