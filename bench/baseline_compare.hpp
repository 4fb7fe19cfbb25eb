// The performance-regression verdict: each benchmark of a run against the same benchmark of a
// baseline. A benchmark regressed when its median time grew by more than the threshold AND the
// Mann–Whitney U test over the repetitions says the change is not noise (with fewer than
// kMinUTestRepetitions repetitions on either side the threshold alone decides).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "bench/result_set.hpp"

namespace kasmina::bench {

inline constexpr size_t kMinUTestRepetitions = 5;

struct CompareOptions {
  double threshold_pct = 5.0;  // relative change of the median that counts
  double alpha = 0.05;         // significance level of the U test
};

enum class Verdict {
  same,       // change within the threshold
  noise,      // change beyond the threshold but not significant
  regressed,  // slower beyond the threshold, significant
  improved,   // faster beyond the threshold, significant
  missing,    // in the baseline, not in this run
  added,      // in this run, not in the baseline
};
const char* verdict_name(Verdict v);

struct ComparisonRow {
  std::string name;
  Verdict verdict = Verdict::same;
  double baseline_median = 0.0;  // seconds
  double current_median = 0.0;   // seconds
  double change_pct = 0.0;       // (current - baseline) / baseline * 100
  double p_value = 1.0;
  bool u_test = false;  // the U test took part in the verdict
  size_t baseline_n = 0, current_n = 0;
};

struct Comparison {
  std::vector<ComparisonRow> rows;  // baseline order, then benchmarks new in this run
  bool any_regression() const;
  size_t count(Verdict v) const;
};

// Refuses (UserError naming both files and the differing value) a baseline measured on another
// kind of device, another GPU or CPU model, or another build type.
void check_compatible(const ResultSet& baseline, const ResultSet& current);

Comparison compare_results(const ResultSet& baseline, const ResultSet& current,
                           const CompareOptions& options);

// A fixed-width table, one line per benchmark, and a summary line.
std::string format_comparison(const Comparison& c, const CompareOptions& options);

double median(std::vector<double> values);

}  // namespace kasmina::bench
