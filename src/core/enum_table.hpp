// One mechanism for every enum <-> name table of the code base: a constexpr array of
// (name, value) pairs per enum, and the lookups written once here. A table is declared as
//   inline constexpr EnumTable<Colour, 2> kColourNames{{{"red", Colour::red},
//                                                      {"green", Colour::green}}};
// and read with enum_name (value -> name, a NUL-terminated literal), enum_parse (name -> value),
// enum_name_list (every name in order) and enum_allowed ("red, green", for error messages).
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kasmina {

template <class E, std::size_t N>
using EnumTable = std::array<std::pair<std::string_view, E>, N>;

// The name of `value`, or `unknown` when the table has none. Names are string literals, so the
// pointer is NUL-terminated and lives for the whole program.
template <class E, std::size_t N>
constexpr const char* enum_name(const EnumTable<E, N>& table, E value, const char* unknown = "?") {
  for (const auto& [name, v] : table) {
    if (v == value) return name.data();
  }
  return unknown;
}

// The value named `text` (exactly, or ignoring ASCII case when `ignore_case`).
template <class E, std::size_t N>
constexpr std::optional<E> enum_parse(const EnumTable<E, N>& table, std::string_view text,
                                      bool ignore_case = false) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  for (const auto& [name, v] : table) {
    if (name == text) return v;
    if (ignore_case && name.size() == text.size()) {
      bool same = true;
      for (std::size_t i = 0; i < name.size() && same; ++i) same = lower(name[i]) == lower(text[i]);
      if (same) return v;
    }
  }
  return std::nullopt;
}

// Every name, in table order.
template <class E, std::size_t N>
std::vector<std::string> enum_name_list(const EnumTable<E, N>& table) {
  std::vector<std::string> out;
  out.reserve(N);
  for (const auto& entry : table) out.emplace_back(entry.first);
  return out;
}

// The names joined by `separator` ("a, b, c"), for "(allowed: ...)" in error messages.
template <class E, std::size_t N>
std::string enum_allowed(const EnumTable<E, N>& table, std::string_view separator = ", ") {
  std::string out;
  for (const auto& entry : table) {
    if (!out.empty()) out += separator;
    out += entry.first;
  }
  return out;
}

}  // namespace kasmina
