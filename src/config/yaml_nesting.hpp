// A pre-scan of YAML text for nesting depth, run before the text is handed to yaml-cpp, so that
// a file nested thousands deep gets a message that says what is wrong (and yaml-cpp's recursive
// parser never sees it).
#pragma once
#include <optional>
#include <string>

namespace kasmina::config_detail {

// Lists and mappings a config may nest, block and flow together (a real config nests < 10).
inline constexpr int kMaxYamlNesting = 64;

// The 1-based line where `text` first nests deeper than kMaxYamlNesting, or nothing. The scan
// follows block indentation, `- ` entries, flow brackets, quotes, comments and block scalars;
// it is a bound, not a parser (yaml-cpp still reports every syntax error).
std::optional<int> line_nesting_too_deep(const std::string& text);

// "nesting deeper than 64 at line L (a config nests at most 64 lists and mappings)"
std::string nesting_message(int line);

}  // namespace kasmina::config_detail
