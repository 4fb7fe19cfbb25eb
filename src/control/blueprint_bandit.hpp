// UCB1 bandit over the blueprints a layer allows (one instance per layer). Arms are the allowed
// blueprints in the layer's order. Choice: an arm never played is taken first (in allowed
// order); otherwise the arm maximising
//     mean_a + c * sqrt(2 ln N / n_a)
// with n_a the plays of arm a, mean_a = (sum of its rewards) / n_a, N = Σ n_a and c the
// exploration constant (ControllerConfig::ucb_c). Ties go to the earlier arm. A reward in
// [0, 1] is recorded when a seed that germinated that blueprint reaches its outcome.
#pragma once
#include <cstdint>
#include <vector>

#include "morph/morph_config.hpp"

namespace kasmina::control {

class BlueprintBandit {
 public:
  BlueprintBandit() = default;
  BlueprintBandit(std::vector<morph::BlueprintKind> arms, double c);

  // The arm to play among those with eligible[i] true (same order as arms()); -1 if none.
  int32_t choose(const std::vector<bool>& eligible) const;
  // UCB value of arm i (+infinity for an arm never played).
  double ucb(int32_t i) const;
  void record(morph::BlueprintKind arm, double reward);
  // Index of `arm` in arms(), -1 when the layer does not allow it.
  int32_t index_of(morph::BlueprintKind arm) const;

  const std::vector<morph::BlueprintKind>& arms() const { return arms_; }
  const std::vector<int64_t>& plays() const { return plays_; }
  const std::vector<double>& reward_sums() const { return sums_; }
  // Restores the counts (checkpoint); sizes must match arms().
  void restore(const std::vector<int64_t>& plays, const std::vector<double>& sums);

 private:
  std::vector<morph::BlueprintKind> arms_;
  double c_ = 1.0;
  std::vector<int64_t> plays_;
  std::vector<double> sums_;
};

}  // namespace kasmina::control
