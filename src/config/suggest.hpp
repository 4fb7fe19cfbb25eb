// "Did you mean ...?" for unknown keys: the closest allowed name by edit distance.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kasmina::config_detail {

// Levenshtein distance (insertions, deletions and substitutions each cost 1).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The allowed name closest to `typed`, when it is close: 1 edit away, else one of the two a
// prefix of the other, else 2 edits away (edits fewer than the longer word has letters). Ties
// go to the earlier name in `allowed`.
std::optional<std::string> closest_name(std::string_view typed,
                                        const std::vector<std::string>& allowed);

// "a, b, c"
std::string join(const std::vector<std::string>& names, std::string_view separator = ", ");

}  // namespace kasmina::config_detail
