// The keep/cull test of a seed (control/causal_eval.hpp) on constructed per-sample losses: the
// hand-computed statistics, a gain inside its noise culled and the same gain accepted at z = 0,
// a clear gain kept, a loss culled, and sums from two ranks equal to the whole.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "control/causal_eval.hpp"

using namespace kasmina::control;

namespace {

// with_i = 0.5 and without_i = 0.5 + gain + noise * (-1)^i over n samples.
void losses(int n, double gain, double noise, std::vector<double>& with,
            std::vector<double>& without) {
  with.assign(static_cast<size_t>(n), 0.5);
  without.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    without[static_cast<size_t>(i)] = 0.5 + gain + (i % 2 == 0 ? noise : -noise);
}

TEST(CausalEval, HandComputedStatistics) {
  // d = {0.5, 0.5, -1}: mean 0, sample variance (0.25 + 0.25 + 1) / 2 = 0.75, se sqrt(0.25).
  const PairedGain g = paired_gain(paired_sums({1.0, 2.0, 3.0}, {1.5, 2.5, 2.0}), 2.0);
  EXPECT_EQ(g.n, 3.0);
  EXPECT_DOUBLE_EQ(g.gain, 0.0);
  EXPECT_DOUBLE_EQ(g.se, 0.5);
  EXPECT_DOUBLE_EQ(g.score, -1.0);
  EXPECT_FALSE(g.keep);
}

TEST(CausalEval, AGainInsideItsNoiseIsCulledUnlessZIsZero) {
  // 5,000 samples, gain 0.001, per-sample noise 0.1: se ~ 0.0014, so gain - 2 se < 0.
  std::vector<double> with, without;
  losses(5000, 0.001, 0.1, with, without);
  const std::vector<double> sums = paired_sums(with, without);
  const PairedGain strict = paired_gain(sums, 2.0);
  EXPECT_NEAR(strict.gain, 0.001, 1e-12);
  EXPECT_NEAR(strict.se, 0.1 * std::sqrt(5000.0 / 4999.0) / std::sqrt(5000.0), 1e-9);
  EXPECT_FALSE(strict.keep);
  EXPECT_LT(strict.score, 0.0);
  const PairedGain mean_only = paired_gain(sums, 0.0);  // the earlier with-vs-without test
  EXPECT_TRUE(mean_only.keep);
  EXPECT_NEAR(mean_only.score, 0.001, 1e-12);
}

TEST(CausalEval, AClearGainIsKeptAndALossCulled) {
  std::vector<double> with, without;
  losses(5000, 0.01, 0.1, with, without);  // gain ~ 7 standard errors
  PairedGain g = paired_gain(paired_sums(with, without), 2.0);
  EXPECT_TRUE(g.keep);
  EXPECT_NEAR(g.score, 0.01 - 2.0 * g.se, 1e-12);
  losses(5000, -0.01, 0.1, with, without);
  g = paired_gain(paired_sums(with, without), 2.0);
  EXPECT_FALSE(g.keep);
  EXPECT_NEAR(g.gain, -0.01, 1e-12);
  // A constant gain has no noise: kept however small.
  losses(100, 1e-6, 0.0, with, without);
  g = paired_gain(paired_sums(with, without), 2.0);
  EXPECT_TRUE(g.keep);
  EXPECT_NEAR(g.se, 0.0, 1e-12);
}

TEST(CausalEval, SumsOverRanksEqualTheWhole) {
  std::vector<double> with, without;
  losses(10, 0.02, 0.05, with, without);
  without[3] += 0.3;
  const std::vector<double> whole = paired_sums(with, without);
  std::vector<double> a =
      paired_sums({with.begin(), with.begin() + 4}, {without.begin(), without.begin() + 4});
  const std::vector<double> b =
      paired_sums({with.begin() + 4, with.end()}, {without.begin() + 4, without.end()});
  for (size_t i = 0; i < 3; ++i) a[i] += b[i];
  const PairedGain gw = paired_gain(whole, 2.0), gr = paired_gain(a, 2.0);
  EXPECT_NEAR(gw.gain, gr.gain, 1e-15);
  EXPECT_NEAR(gw.se, gr.se, 1e-15);
  EXPECT_EQ(gw.n, 10.0);
}

}  // namespace

// Issue 15, item 6: a seed whose removal hurts but whose gain over the pre-germination network
// is nil is flagged (not culled); a real gain over it, or a seed that was not kept, is not.
TEST(CausalEval, FlagsASeedTheHostDependsOnWithoutAGainOverThePreGerminationNetwork) {
  // Removing the seed costs 0.1 per sample (kept), but the losses with it equal the
  // pre-germination ones up to +-0.05 noise: gain 0 over them.
  std::vector<double> with, without, pre;
  losses(5000, 0.1, 0.01, with, without);
  losses(5000, 0.0, 0.05, with, pre);
  const PairedGain removal = paired_gain(paired_sums(with, without), 2.0);
  ASSERT_TRUE(removal.keep);
  const PregerminationCheck dep = check_pregermination(removal.keep, paired_sums(with, pre), 2.0);
  EXPECT_NEAR(dep.over_pre.gain, 0.0, 1e-12);
  EXPECT_NEAR(dep.over_pre.se, 0.05 / std::sqrt(5000.0), 1e-6);
  EXPECT_FALSE(dep.over_pre.keep);
  EXPECT_TRUE(dep.flagged);
  // A gain of 0.01 over the pre-germination network (7 standard errors): not flagged.
  losses(5000, 0.01, 0.05, with, pre);
  const PregerminationCheck gain = check_pregermination(true, paired_sums(with, pre), 2.0);
  EXPECT_NEAR(gain.over_pre.gain, 0.01, 1e-12);
  EXPECT_TRUE(gain.over_pre.keep);
  EXPECT_FALSE(gain.flagged);
  // A seed the paired test culled is never flagged, whatever its gain over the pre state.
  losses(5000, 0.0, 0.05, with, pre);
  EXPECT_FALSE(check_pregermination(false, paired_sums(with, pre), 2.0).flagged);
}
