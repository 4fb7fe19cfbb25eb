#include "ir/init.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kasmina::ir {

namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && s[a] == ' ') ++a;
  while (b > a && s[b - 1] == ' ') --b;
  return s.substr(a, b - a);
}

std::optional<double> number(const std::string& s) {
  const std::string t = trim(s);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::string exact_number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::optional<Init> parse_init(const std::string& raw) {
  const std::string text = trim(raw);
  if (text == "zeros") return Init{Init::Kind::zeros, 0.0};
  if (text == "ones") return Init{Init::Kind::ones, 1.0};
  const size_t open = text.find('(');
  if (open == std::string::npos || text.back() != ')') return std::nullopt;
  const std::string head = text.substr(0, open);
  const std::string args = text.substr(open + 1, text.size() - open - 2);
  if (head == "constant") {
    const std::optional<double> v = number(args);
    if (!v) return std::nullopt;
    return Init{Init::Kind::constant, *v};
  }
  if (head != "uniform") return std::nullopt;
  const size_t comma = args.find(',');
  if (trim(args.substr(0, comma)) == "fan_in") {
    if (comma == std::string::npos) return Init{Init::Kind::uniform_fan_in, 1.0};
    const std::optional<double> gain = number(args.substr(comma + 1));
    if (!gain || *gain <= 0) return std::nullopt;
    return Init{Init::Kind::uniform_fan_in, *gain};
  }
  if (comma != std::string::npos) return std::nullopt;
  const std::optional<double> bound = number(args);
  if (!bound || *bound <= 0) return std::nullopt;
  return Init{Init::Kind::uniform, *bound};
}

std::string init_text(const Init& init) {
  switch (init.kind) {
    case Init::Kind::zeros:
      return "zeros";
    case Init::Kind::ones:
      return "ones";
    case Init::Kind::constant:
      return "constant(" + exact_number_text(init.a) + ")";
    case Init::Kind::uniform:
      return "uniform(" + exact_number_text(init.a) + ")";
    case Init::Kind::uniform_fan_in:
      return init.a == 1.0 ? "uniform(fan_in)"
                           : "uniform(fan_in, " + exact_number_text(init.a) + ")";
  }
  return "zeros";
}

float init_value(const Init& init, float u, int64_t fan_in) {
  static_assert(static_cast<int32_t>(Init::Kind::uniform_fan_in) == 4);
  return init_value_of(static_cast<int32_t>(init.kind), static_cast<float>(init.a), u,
                       static_cast<int32_t>(fan_in));
}

}  // namespace kasmina::ir
