#include "config/suggest.hpp"

#include <algorithm>
#include <numeric>

namespace kasmina::config_detail {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // One row of the dynamic-programming table at a time.
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest_name(std::string_view typed,
                                        const std::vector<std::string>& allowed) {
  // Best first: a one-letter slip, then a prefix either way ('sched' for 'schedule'), then two
  // edits. A distance as long as the words themselves is no resemblance ('p' vs 'in').
  auto within = [&](std::size_t max_edits) -> std::optional<std::string> {
    for (const std::string& name : allowed) {
      const std::size_t d = edit_distance(typed, name);
      if (d <= max_edits && d < std::max(typed.size(), name.size())) return name;
    }
    return std::nullopt;
  };
  if (std::optional<std::string> name = within(1)) return name;
  if (typed.size() >= 2) {
    for (const std::string& name : allowed) {
      const std::string_view candidate = name;
      if (candidate.starts_with(typed) || typed.starts_with(candidate)) return name;
    }
  }
  return within(2);
}

std::string join(const std::vector<std::string>& names, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += separator;
    out += names[i];
  }
  return out;
}

}  // namespace kasmina::config_detail
