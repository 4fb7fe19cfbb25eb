// The fuzz targets whose readers take a path get each input as a file, rewritten for every
// input: one per process in /dev/shm (memory, so fuzzing wears no disk) or else the temp
// directory, removed at exit. (HDF5 cannot open an in-memory file through /proc/self/fd: it
// resolves the path's real name.)
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace kasmina::fuzz {

// Never destroyed, so that the exit handler that removes the file can still name it.
inline const std::string& input_path() {
  static const std::string* const path = [] {
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    auto* p = new std::string((dir / ("kasmina-fuzz-" + std::to_string(::getpid()))).string());
    std::atexit([] { std::remove(input_path().c_str()); });
    return p;
  }();
  return *path;
}

// Replaces the file's contents with `data` and returns its path.
inline std::string input_file(const uint8_t* data, size_t size) {
  const std::string& path = input_path();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) std::abort();
  return path;
}

}  // namespace kasmina::fuzz
