#include "ir/dim.hpp"

#include <charconv>

namespace kasmina::ir {

namespace {
constexpr const char* kSymbols[4] = {"", "C", "h", "r"};

std::optional<int64_t> parse_count(std::string_view s) {
  int64_t v = 0;
  if (s.empty() || s.size() > 9) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1) return std::nullopt;
  return v;
}
}  // namespace

std::string Dim::text() const {
  std::string out;
  for (int i = 1; i < 4; ++i) {
    if (k[i] == 0) continue;
    if (!out.empty() || k[i] < 0) out += k[i] < 0 ? "-" : "+";
    const int64_t a = k[i] < 0 ? -k[i] : k[i];
    if (a != 1) out += std::to_string(a) + "*";
    out += kSymbols[i];
  }
  if (k[0] != 0 || out.empty()) {
    if (!out.empty()) out += k[0] < 0 ? "-" : "+";
    out += std::to_string(out.empty() ? k[0] : (k[0] < 0 ? -k[0] : k[0]));
  }
  return out;
}

std::optional<Dim> parse_dim(std::string_view text) {
  int64_t factor = 1;
  const size_t star = text.find('*');
  if (star != std::string_view::npos) {
    const std::optional<int64_t> f = parse_count(text.substr(0, star));
    if (!f) return std::nullopt;
    factor = *f;
    text = text.substr(star + 1);
  }
  for (int i = 1; i < 4; ++i)
    if (text == kSymbols[i]) {
      Dim d;
      d.k[i] = factor;
      return d;
    }
  if (star != std::string_view::npos) return std::nullopt;
  const std::optional<int64_t> n = parse_count(text);
  if (!n) return std::nullopt;
  return Dim::constant(*n);
}

}  // namespace kasmina::ir
