// A temporary cache directory and keys for the kernel-cache tests.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/sha256.hpp"
#include "ir/kernel_cache.hpp"

namespace kasmina::ir::testing {

class CacheDir {
 public:
  CacheDir() {
    std::string t = (std::filesystem::temp_directory_path() / "kasmina-cache-XXXXXX").string();
    path_ = ::mkdtemp(t.data());
  }
  ~CacheDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  CacheOptions options() const {
    CacheOptions o;
    o.dir = path_;
    return o;
  }

 private:
  std::string path_;
};

inline std::string key_of(const std::string& text) {
  return sha256_hex(text);
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

}  // namespace kasmina::ir::testing
