// The keep/cull test of a seed in EVALUATING (issue 15, "evaluation as a causal test"): the same
// validation samples are scored with the seed (alpha 1) and without it (alpha 0), and the paired
// per-sample differences d_i = loss_without_i - loss_with_i (> 0: the seed lowers the loss) give
// the gain (their mean) and its standard error (sd / sqrt(n)). The seed is kept only when the
// gain exceeds `z` standard errors: score = gain - z * se > 0. At z = 0 this is the earlier
// test (mean loss with vs without the seed).
#pragma once
#include <cstdint>
#include <vector>

namespace kasmina::control {

// The sufficient statistics of the paired differences: {n, sum d, sum d^2} (summed over ranks
// in a data-parallel run).
std::vector<double> paired_sums(const std::vector<double>& loss_with,
                                const std::vector<double>& loss_without);

struct PairedGain {
  double n = 0.0;
  double mean_with = 0.0;  // filled by the caller when known
  double gain = 0.0;       // mean of d
  double se = 0.0;         // standard error of the mean of d
  double score = 0.0;      // gain - z * se
  bool keep = false;       // score > 0
};

// From paired_sums' statistics; `z` >= 0.
PairedGain paired_gain(const std::vector<double>& sums, double z);

// The seed's gain over the network before its germination (issue 15, item 6), from the
// paired_sums of the losses with the seed and the pre-germination losses on the same samples
// (d_i = loss_pre_i - loss_with_i). Flagged when the seed was kept by the paired test (its
// removal hurts) but this gain does not exceed `z` standard errors: the host came to depend on
// the seed without the network getting better than it was before it. A flag is a note, not a
// cull.
struct PregerminationCheck {
  PairedGain over_pre;
  bool flagged = false;
};
PregerminationCheck check_pregermination(bool kept, const std::vector<double>& pre_sums, double z);

}  // namespace kasmina::control
