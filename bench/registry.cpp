#include "bench/registry.hpp"

#include <regex>
#include <string_view>

#include "bench/peaks.hpp"
#include "bench/timed_loop.hpp"
#include "core/error.hpp"

namespace kasmina::bench {

void register_all_benchmarks(Device dev) {
  register_peak_benchmarks(dev);
  register_engine_op_benchmarks(dev);
  register_conv_op_benchmarks(dev);
  register_morph_benchmarks(dev);
  register_whole_layer_benchmarks(dev);
  register_train_step_benchmarks(dev);
  register_network_step_benchmarks(dev);
}

std::vector<std::string> matching_benchmarks(const std::string& filter) {
  const std::vector<std::string>& all = registered_benchmark_names();
  if (filter.empty() || filter == "all") return all;
  const bool negate = filter[0] == '-';
  const std::string expr = negate ? filter.substr(1) : filter;
  std::regex re;
  try {
    re = std::regex(expr, std::regex::extended);
  } catch (const std::regex_error& e) {
    throw UserError("--filter: '" + filter + "' is not a valid regular expression (" + e.what() +
                    "); allowed: a POSIX extended regular expression, optionally prefixed with "
                    "'-' to exclude");
  }
  std::vector<std::string> out;
  for (const std::string& name : all)
    if (std::regex_search(name, re) != negate) out.push_back(name);
  return out;
}

std::string exact_filter(const std::vector<std::string>& names) {
  if (names == registered_benchmark_names()) return "all";
  std::string f = "^(";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) f += '|';
    for (const char c : names[i]) {
      if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) f += '\\';
      f += c;
    }
  }
  return f + ")(/iterations:[0-9]+)?/manual_time$";
}

}  // namespace kasmina::bench
