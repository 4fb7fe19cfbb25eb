#include "core/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace kasmina {

bool is_terminal(std::FILE* f) {
  return ::isatty(::fileno(f)) == 1;
}

std::string format_duration(double seconds) {
  char buf[32];
  if (seconds < 60.0) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else {
    const long s = std::lround(seconds);
    if (s >= 3600)
      std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
      std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

void ProgressBar::draw(const std::string& label, double done, const std::string& text) {
  done = std::clamp(done, 0.0, 1.0);
  const int filled = static_cast<int>(std::lround(done * width_));
  std::string line = label + " [" + std::string(static_cast<size_t>(filled), '#') +
                     std::string(static_cast<size_t>(width_ - filled), '.') + "] " + text;
  const size_t len = line.size();
  if (len < last_len_) line += std::string(last_len_ - len, ' ');
  last_len_ = len;
  std::fprintf(out_, "\r%s", line.c_str());
  std::fflush(out_);
}

void ProgressBar::clear() {
  if (last_len_ == 0) return;
  std::fprintf(out_, "\r%s\r", std::string(last_len_, ' ').c_str());
  std::fflush(out_);
  last_len_ = 0;
}

}  // namespace kasmina
