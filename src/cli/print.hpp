// Writes a command's text to standard output at once (unbuffered for the caller: flushed, so a
// later error line on standard error never overtakes it).
#pragma once
#include <cstdio>
#include <string>

namespace kasmina::cli {

inline void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace kasmina::cli
