#include "bench/mann_whitney.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

namespace kasmina::bench {

namespace {

constexpr size_t kExactLimit = 20;

// Number of ways to reach each U value with n1 and n2 values: counts[u], u in [0, n1*n2].
std::vector<double> u_distribution(size_t n1, size_t n2) {
  // f[i][j][u]: arrangements of i values of the first and j of the second sample with U = u.
  // Computed with the recurrence f(i,j,u) = f(i-1,j,u-j) + f(i,j-1,u).
  const size_t umax = n1 * n2;
  std::vector<std::vector<std::vector<double>>> f(
      n1 + 1, std::vector<std::vector<double>>(n2 + 1, std::vector<double>(umax + 1, 0.0)));
  for (size_t i = 0; i <= n1; ++i)
    for (size_t j = 0; j <= n2; ++j) {
      if (i == 0 || j == 0) {
        f[i][j][0] = 1.0;
        continue;
      }
      for (size_t u = 0; u <= i * j; ++u) {
        double v = f[i][j - 1][u];
        if (u >= j) v += f[i - 1][j][u - j];
        f[i][j][u] = v;
      }
    }
  return f[n1][n2];
}

double normal_sf(double z) {
  return 0.5 * std::erfc(z / std::sqrt(2.0));
}

}  // namespace

UTestResult mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
  UTestResult r;
  const size_t n1 = a.size(), n2 = b.size();
  if (n1 == 0 || n2 == 0) return r;

  // Ranks of the pooled sample (average ranks for ties).
  std::vector<std::pair<double, int>> pooled;
  pooled.reserve(n1 + n2);
  for (double x : a) pooled.emplace_back(x, 0);
  for (double x : b) pooled.emplace_back(x, 1);
  std::sort(pooled.begin(), pooled.end());
  double rank_sum_a = 0.0, tie_term = 0.0;
  bool ties = false;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k)
      if (pooled[k].second == 0) rank_sum_a += avg_rank;
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    i = j;
  }
  const double d1 = static_cast<double>(n1), d2 = static_cast<double>(n2);
  r.u = rank_sum_a - d1 * (d1 + 1.0) / 2.0;
  const double mean_u = d1 * d2 / 2.0;

  if (!ties && n1 <= kExactLimit && n2 <= kExactLimit) {
    const std::vector<double> counts = u_distribution(n1, n2);
    double total = 0.0;
    for (double c : counts) total += c;
    // Two-sided: twice the smaller tail at the observed U.
    const auto u_obs = static_cast<size_t>(std::llround(r.u));
    double lower = 0.0, upper = 0.0;
    for (size_t u = 0; u < counts.size(); ++u) {
      if (u <= u_obs) lower += counts[u];
      if (u >= u_obs) upper += counts[u];
    }
    r.p_value = std::min(1.0, 2.0 * std::min(lower, upper) / total);
    r.exact = true;
    return r;
  }

  const double n = d1 + d2;
  const double var_u = d1 * d2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
  if (var_u <= 0.0) return r;  // every value equal: no evidence of a difference
  const double z = (std::abs(r.u - mean_u) - 0.5) / std::sqrt(var_u);
  r.p_value = std::min(1.0, 2.0 * normal_sf(std::max(z, 0.0)));
  return r;
}

}  // namespace kasmina::bench
