#include "config/rules.hpp"

#include <charconv>
#include <cstdint>
#include <limits>

namespace kasmina::config_detail {

std::string number_text(double value) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, ec == std::errc() ? end : buffer);
}

Rule<int64_t> at_least(int64_t min) {
  return [min](const int64_t& v, const std::string& text) -> std::optional<std::string> {
    if (v >= min) return std::nullopt;
    return "must be >= " + std::to_string(min) + ", got " + text;
  };
}

Rule<int64_t> in_range(int64_t lo, int64_t hi) {
  return [lo, hi](const int64_t& v, const std::string& text) -> std::optional<std::string> {
    if (v >= lo && v <= hi) return std::nullopt;
    return "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + text;
  };
}

Rule<int64_t> bounded(int64_t min, int64_t max) {
  return [min, max](const int64_t& v, const std::string& text) -> std::optional<std::string> {
    if (v < min) return "must be >= " + std::to_string(min) + ", got " + text;
    if (v > max) return "must be <= " + std::to_string(max) + ", got " + text;
    return std::nullopt;
  };
}

Rule<int64_t> int32_at_least(int64_t min) {
  return bounded(min, std::numeric_limits<int32_t>::max());
}

Rule<double> non_negative() {
  return [](const double& v, const std::string& text) -> std::optional<std::string> {
    if (v >= 0.0) return std::nullopt;
    return "must be >= 0, got " + text;
  };
}

Rule<double> above(double min) {
  return [min](const double& v, const std::string& text) -> std::optional<std::string> {
    if (v > min) return std::nullopt;
    return "must be > " + number_text(min) + ", got " + text;
  };
}

Rule<double> in_half_open(double lo, double hi) {
  return [lo, hi](const double& v, const std::string& text) -> std::optional<std::string> {
    if (v >= lo && v < hi) return std::nullopt;
    return "must be in [" + number_text(lo) + ", " + number_text(hi) + "), got " + text;
  };
}

Rule<std::string> one_of(std::vector<std::string> allowed) {
  return [allowed = std::move(allowed)](const std::string& v,
                                        const std::string&) -> std::optional<std::string> {
    for (const std::string& a : allowed) {
      if (a == v) return std::nullopt;
    }
    return "'" + v + "' is not allowed (allowed: " + join(allowed) + ")";
  };
}

Rule<std::string> non_empty() {
  return [](const std::string& v, const std::string&) -> std::optional<std::string> {
    if (v.empty()) return "must not be empty";
    return std::nullopt;
  };
}

Rule<std::string> plain_name() {
  return [](const std::string& v, const std::string&) -> std::optional<std::string> {
    if (v.empty()) return "must not be empty";
    for (const char ch : v) {
      if (ch == '/' || static_cast<unsigned char>(ch) < 0x20) {
        return "must not contain '/' or control characters, got '" + v + "'";
      }
    }
    return std::nullopt;
  };
}

Rule<std::string> device_name() {
  return [](const std::string& v, const std::string&) -> std::optional<std::string> {
    if (v == "cpu" || v == "cuda") return std::nullopt;
    constexpr std::string_view prefix = "cuda:";
    if (v.starts_with(prefix) && v.size() > prefix.size()) {
      const std::string_view index = std::string_view(v).substr(prefix.size());
      if (index.find_first_not_of("0123456789") == std::string_view::npos) return std::nullopt;
    }
    return "'" + v + "' is not allowed (allowed: cpu, cuda, cuda:N with N a device index)";
  };
}

}  // namespace kasmina::config_detail
