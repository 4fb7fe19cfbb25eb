#include "io/tensorboard/writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/tensorboard/events.hpp"

namespace kasmina::io::tb {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "events.out.tfevents.";

double wall_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

fs::path created_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create directory " + dir.string() + ": " + errno_text(ec.value()));
  return dir;
}

}  // namespace

std::string new_event_file_name(const fs::path& dir) {
  auto seconds = static_cast<long long>(wall_time_now());
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, kPrefix.size(), kPrefix) != 0) continue;
    const std::string digits = name.substr(kPrefix.size(), 10);
    if (digits.size() == 10 && std::all_of(digits.begin(), digits.end(), ::isdigit))
      seconds = std::max(seconds, std::stoll(digits) + 1);
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%010lld", seconds);
  return std::string(kPrefix) + stamp + "." + host + "." + std::to_string(::getpid());
}

TensorBoardWriter::TensorBoardWriter(const fs::path& dir, int64_t start_step)
    : file_((created_dir(dir) / new_event_file_name(dir)).string()) {
  const double now = wall_time_now();
  file_.append(file_version_event(now));
  file_.append(session_start_event(now, start_step));
}

void TensorBoardWriter::scalar(const std::string& tag, int64_t step, double value) {
  file_.append(scalar_event(wall_time_now(), step, tag, static_cast<float>(value)));
}

void TensorBoardWriter::histogram(const std::string& tag, int64_t step,
                                  std::span<const double> values) {
  file_.append(histogram_event(wall_time_now(), step, tag, make_histogram(values)));
}

void TensorBoardWriter::text(const std::string& tag, int64_t step, const std::string& markdown) {
  file_.append(text_event(wall_time_now(), step, tag, markdown));
}

}  // namespace kasmina::io::tb
