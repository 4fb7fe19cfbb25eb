// UCB1 arithmetic of the blueprint bandit against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "control/blueprint_bandit.hpp"

namespace kasmina::control {
namespace {

using morph::BlueprintKind;

TEST(BlueprintBandit, PlaysUnplayedArmsFirstInAllowedOrder) {
  BlueprintBandit b({BlueprintKind::low_rank, BlueprintKind::diag_scale}, 1.0);
  EXPECT_EQ(b.choose({true, true}), 0);
  EXPECT_TRUE(std::isinf(b.ucb(0)));
  b.record(BlueprintKind::low_rank, 0.0);
  EXPECT_EQ(b.choose({true, true}), 1);
  EXPECT_EQ(b.choose({true, false}), 0);
  EXPECT_EQ(b.choose({false, false}), -1);
  // A blueprint the layer does not allow is ignored.
  b.record(BlueprintKind::residual_mlp, 1.0);
  EXPECT_EQ(b.plays(), (std::vector<int64_t>{1, 0}));
}

TEST(BlueprintBandit, UcbValuesMatchHandComputation) {
  BlueprintBandit b(
      {BlueprintKind::residual_mlp, BlueprintKind::low_rank, BlueprintKind::diag_scale}, 1.0);
  b.record(BlueprintKind::residual_mlp, 1.0);
  b.record(BlueprintKind::low_rank, 0.0);
  b.record(BlueprintKind::diag_scale, 0.5);
  b.record(BlueprintKind::residual_mlp, 0.5);
  // N = 4, ln 4 = 1.3862943611198906.
  // arm 0: n = 2, mean 0.75: 0.75 + sqrt(2 ln4 / 2) = 0.75 + 1.1774100225154747
  // arm 1: n = 1, mean 0:    0 + sqrt(2 ln4)        = 1.6651092223153954
  // arm 2: n = 1, mean 0.5:  0.5 + 1.6651092223153954
  EXPECT_NEAR(b.ucb(0), 1.9274100225154747, 1e-12);
  EXPECT_NEAR(b.ucb(1), 1.6651092223153954, 1e-12);
  EXPECT_NEAR(b.ucb(2), 2.1651092223153954, 1e-12);
  EXPECT_EQ(b.choose({true, true, true}), 2);
  EXPECT_EQ(b.choose({true, true, false}), 0);
  EXPECT_EQ(b.reward_sums(), (std::vector<double>{1.5, 0.0, 0.5}));
}

TEST(BlueprintBandit, ExplorationConstantScalesTheBonus) {
  BlueprintBandit b({BlueprintKind::low_rank, BlueprintKind::diag_scale}, 0.25);
  b.record(BlueprintKind::low_rank, 0.9);
  b.record(BlueprintKind::diag_scale, 0.2);
  b.record(BlueprintKind::diag_scale, 0.2);
  // N = 3, ln 3 = 1.0986122886681098
  // arm 0: 0.9 + 0.25 sqrt(2 ln3)     = 0.9 + 0.25 * 1.4823038073675112
  // arm 1: 0.2 + 0.25 sqrt(2 ln3 / 2) = 0.2 + 0.25 * 1.048147073968205
  EXPECT_NEAR(b.ucb(0), 1.2705759518418778, 1e-12);
  EXPECT_NEAR(b.ucb(1), 0.4620367684920513, 1e-12);
  EXPECT_EQ(b.choose({true, true}), 0);
}

TEST(BlueprintBandit, RestoreReproducesTheCounts) {
  BlueprintBandit a({BlueprintKind::low_rank, BlueprintKind::diag_scale}, 1.0);
  a.record(BlueprintKind::low_rank, 0.3);
  a.record(BlueprintKind::diag_scale, 0.7);
  a.record(BlueprintKind::diag_scale, 0.1);
  BlueprintBandit b({BlueprintKind::low_rank, BlueprintKind::diag_scale}, 1.0);
  b.restore(a.plays(), a.reward_sums());
  EXPECT_EQ(b.ucb(0), a.ucb(0));
  EXPECT_EQ(b.ucb(1), a.ucb(1));
}

}  // namespace
}  // namespace kasmina::control
