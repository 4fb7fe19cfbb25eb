#include "control/blueprint_bandit.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace kasmina::control {

BlueprintBandit::BlueprintBandit(std::vector<morph::BlueprintKind> arms, double c)
    : arms_(std::move(arms)), c_(c), plays_(arms_.size(), 0), sums_(arms_.size(), 0.0) {}

double BlueprintBandit::ucb(int32_t i) const {
  KASMINA_CHECK(i >= 0 && static_cast<size_t>(i) < arms_.size(), "BlueprintBandit: arm index");
  if (plays_[i] == 0) return std::numeric_limits<double>::infinity();
  int64_t total = 0;
  for (int64_t n : plays_) total += n;
  const double n = static_cast<double>(plays_[i]);
  return sums_[i] / n + c_ * std::sqrt(2.0 * std::log(static_cast<double>(total)) / n);
}

int32_t BlueprintBandit::choose(const std::vector<bool>& eligible) const {
  KASMINA_CHECK(eligible.size() == arms_.size(), "BlueprintBandit::choose: eligibility size");
  int32_t best = -1;
  double best_value = 0.0;
  for (size_t i = 0; i < arms_.size(); ++i) {
    if (!eligible[i]) continue;
    const double v = ucb(static_cast<int32_t>(i));
    if (best < 0 || v > best_value) {
      best = static_cast<int32_t>(i);
      best_value = v;
    }
  }
  return best;
}

int32_t BlueprintBandit::index_of(morph::BlueprintKind arm) const {
  for (size_t i = 0; i < arms_.size(); ++i) {
    if (arms_[i] == arm) return static_cast<int32_t>(i);
  }
  return -1;
}

void BlueprintBandit::record(morph::BlueprintKind arm, double reward) {
  const int32_t i = index_of(arm);
  if (i < 0) return;  // a blueprint the layer does not allow (e.g. from a hand schedule)
  ++plays_[i];
  sums_[i] += reward;
}

void BlueprintBandit::restore(const std::vector<int64_t>& plays, const std::vector<double>& sums) {
  KASMINA_CHECK(plays.size() == arms_.size() && sums.size() == arms_.size(),
                "BlueprintBandit::restore: arm count mismatch");
  plays_ = plays;
  sums_ = sums;
}

}  // namespace kasmina::control
