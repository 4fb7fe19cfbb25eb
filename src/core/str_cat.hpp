// One string from pieces (strings, C strings, characters, integers) appended in order: the names
// and messages kasmina builds from numbers, without the temporaries of a chain of `+` (a chain
// that starts with a literal also trips GCC 12's false -Wrestrict on const char* + string&&).
#pragma once
#include <string>
#include <string_view>
#include <type_traits>

namespace kasmina {

namespace str_cat_detail {
inline void append(std::string& s, std::string_view v) {
  s.append(v);
}
inline void append(std::string& s, char c) {
  s.push_back(c);
}
template <class T>
requires(std::is_integral_v<T> && !std::is_same_v<T, char> &&
         !std::is_same_v<T, bool>) void append(std::string& s, T v) {
  s += std::to_string(v);
}
}  // namespace str_cat_detail

template <class... P>
std::string str_cat(const P&... pieces) {
  std::string s;
  (str_cat_detail::append(s, pieces), ...);
  return s;
}

}  // namespace kasmina
