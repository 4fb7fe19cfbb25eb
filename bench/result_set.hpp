// Benchmark results read back from Google Benchmark's JSON (the file `kasmina bench --out` and
// `--save-baseline` write, and compare.py reads): the context and, per benchmark, the real time
// of every repetition.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace kasmina::bench {

struct BenchmarkSamples {
  std::string name;             // run name, e.g. "ops/layernorm_forward/M128_N256"
  std::vector<double> seconds;  // real time per iteration, one value per repetition
};

struct ResultSet {
  std::string source;                          // file name or description, for messages
  std::map<std::string, std::string> context;  // string and number fields of "context"
  std::vector<BenchmarkSamples> benchmarks;    // in file order
  const BenchmarkSamples* find(const std::string& name) const;
  // The context value, or "" when absent.
  std::string context_value(const std::string& key) const;
};

// Parses Google Benchmark JSON text. Only "iteration" runs are kept (aggregates such as mean
// and stddev are recomputed from them). UserError naming `source` when the text is not such a
// file.
ResultSet parse_results(const std::string& json_text, const std::string& source);
// Reads and parses a file (UserError when it cannot be read).
ResultSet load_results(const std::string& path);

}  // namespace kasmina::bench
