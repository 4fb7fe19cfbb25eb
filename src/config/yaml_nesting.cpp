#include "config/yaml_nesting.hpp"

#include <cstddef>
#include <vector>

namespace kasmina::config_detail {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// Where a scalar or collection may start: the line's first character, or after ':', '-', ',',
// inside brackets ',', '[', '{', and blanks (not inside a plain scalar such as `a[1]` or `it's`).
bool at_value_start(const std::string& line, std::size_t i, bool in_flow) {
  std::size_t j = i;
  while (j > 0 && is_space(line[j - 1])) --j;
  if (j == 0) return true;
  const char prev = line[j - 1];
  const bool after_indicator = prev == ':' || prev == '-' || prev == '?';
  const bool flow_separator = prev == ',' || prev == '[' || prev == '{';
  return (in_flow && flow_separator) || (after_indicator && j < i);
}

// A line whose value is a block scalar (`key: |`, `- >-`): the lines indented deeper are text.
bool opens_block_scalar(const std::string& line, std::size_t end) {
  std::size_t j = end;
  while (j > 0 && is_space(line[j - 1])) --j;
  std::size_t k = j;
  while (k > 0 &&
         (line[k - 1] == '-' || line[k - 1] == '+' || (line[k - 1] >= '0' && line[k - 1] <= '9')))
    --k;
  if (k == 0 || (line[k - 1] != '|' && line[k - 1] != '>')) return false;
  return k == 1 || is_space(line[k - 2]);
}

}  // namespace

std::optional<int> line_nesting_too_deep(const std::string& text) {
  std::vector<std::size_t> indents;  // block levels open above the current line
  int flow = 0;                      // open '[' and '{'
  char quote = 0;                    // inside a quoted scalar (which may span lines)
  std::ptrdiff_t block_scalar_indent = -1;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    std::size_t indent = 0;
    while (indent < line.size() && line[indent] == ' ') ++indent;
    const bool blank = indent == line.size() || line[indent] == '#' || line[indent] == '\r';
    if (block_scalar_indent >= 0) {
      if (blank || static_cast<std::ptrdiff_t>(indent) > block_scalar_indent) continue;
      block_scalar_indent = -1;
    }
    if (blank && quote == 0) continue;
    std::size_t i = 0;
    int block = static_cast<int>(indents.size());
    if (quote == 0 && flow == 0) {
      while (!indents.empty() && indents.back() >= indent) indents.pop_back();
      indents.push_back(indent);
      block = static_cast<int>(indents.size());
      i = indent;
      // `- - - x`: each further `- ` on the line opens one more list.
      while (i + 1 < line.size() && line[i] == '-' && is_space(line[i + 1])) {
        ++block;
        i += 2;
        while (i < line.size() && is_space(line[i])) ++i;
      }
    }
    if (block + flow > kMaxYamlNesting) return line_no;
    for (; i < line.size(); ++i) {
      const char c = line[i];
      if (quote != 0) {
        if (quote == '"' && c == '\\') {
          ++i;
        } else if (c == quote) {
          if (quote == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
            ++i;
          } else {
            quote = 0;
          }
        }
        continue;
      }
      if (c == '#' && (i == 0 || is_space(line[i - 1]))) break;
      if ((c == '"' || c == '\'') && at_value_start(line, i, flow > 0)) {
        quote = c;
      } else if ((c == '[' || c == '{') && (flow > 0 || at_value_start(line, i, flow > 0))) {
        if (block + ++flow > kMaxYamlNesting) return line_no;
      } else if ((c == ']' || c == '}') && flow > 0) {
        --flow;
      }
    }
    if (quote == 0 && flow == 0 && opens_block_scalar(line, line.size()))
      block_scalar_indent = static_cast<std::ptrdiff_t>(indent);
  }
  return std::nullopt;
}

std::string nesting_message(int line) {
  const std::string n = std::to_string(kMaxYamlNesting);
  return "nesting deeper than " + n + " at line " + std::to_string(line) +
         " (a config nests at most " + n + " lists and mappings)";
}

}  // namespace kasmina::config_detail
