#include "control/causal_eval.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace kasmina::control {

std::vector<double> paired_sums(const std::vector<double>& loss_with,
                                const std::vector<double>& loss_without) {
  KASMINA_CHECK(loss_with.size() == loss_without.size(),
                "paired_sums: the two evaluations cover different samples");
  double s = 0.0, s2 = 0.0;
  for (size_t i = 0; i < loss_with.size(); ++i) {
    const double d = loss_without[i] - loss_with[i];
    s += d;
    s2 += d * d;
  }
  return {static_cast<double>(loss_with.size()), s, s2};
}

PairedGain paired_gain(const std::vector<double>& sums, double z) {
  KASMINA_CHECK(sums.size() == 3 && z >= 0.0, "paired_gain: {n, sum, sum of squares}, z >= 0");
  PairedGain g;
  g.n = sums[0];
  if (g.n <= 0.0) return g;
  g.gain = sums[1] / g.n;
  if (g.n > 1.0) {
    // Sample variance of d (n - 1), clamped against rounding below zero.
    const double var = std::max(0.0, (sums[2] - g.n * g.gain * g.gain) / (g.n - 1.0));
    g.se = std::sqrt(var / g.n);
  }
  g.score = g.gain - z * g.se;
  g.keep = g.score > 0.0;
  return g;
}

PregerminationCheck check_pregermination(bool kept, const std::vector<double>& pre_sums, double z) {
  PregerminationCheck c;
  c.over_pre = paired_gain(pre_sums, z);
  c.flagged = kept && !c.over_pre.keep;
  return c;
}

}  // namespace kasmina::control
