// Mann–Whitney U test (two-sided), as Google Benchmark's compare.py uses it to tell a real
// timing change from noise between two sets of repetitions.
#pragma once
#include <vector>

namespace kasmina::bench {

struct UTestResult {
  double u = 0.0;        // U statistic of the first sample
  double p_value = 1.0;  // two-sided
  bool exact = false;    // exact distribution (small samples without ties) or normal approximation
};

// Two-sided p-value for "a and b come from the same distribution". Exact for samples of at
// most 20 values each without ties; otherwise the normal approximation with tie and continuity
// correction. Empty samples give p = 1.
UTestResult mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace kasmina::bench
