// A one-line progress bar for terminals (redrawn in place with \r), and helpers to format
// durations. Used only when the output is a TTY; otherwise callers print plain lines.
#pragma once
#include <cstdio>
#include <string>

namespace kasmina {

bool is_terminal(std::FILE* f);
std::string format_duration(double seconds);  // "1:02:03", "2:03", "4.2s"

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out, int width = 30) : out_(out), width_(width) {}
  // Redraws the bar at fraction `done` (0..1) with a label before and text after it.
  void draw(const std::string& label, double done, const std::string& text);
  // Clears the line so that ordinary output can follow.
  void clear();

 private:
  std::FILE* out_;
  int width_;
  size_t last_len_ = 0;
};

}  // namespace kasmina
