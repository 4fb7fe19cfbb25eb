// The gradient score of a width step (width seeds under the controller, issue 15): how strongly
// the loss would pull on the next group of dormant units if they were activated now, relative
// to the units already active — the GradMax question "is a new unit here worth it", asked of
// the exact units the step would activate.
//
// With a the layer's input [B, in], h its output [B, width] (after its fused activation) and g
// the gradient of the mean loss with respect to the next linear layer's pre-activation
// [B, next_out], an active unit j's outgoing weights receive the gradient gᵀ h_j ([next_out]),
// and a dormant unit of the next group, activated with incoming weights w_k and bias b_k
// (exactly those WidthGrowLinear would draw) and zero outgoing weights, would receive
// gᵀ act(a w_k + b_k) on the same batch. The score is the mean over the group of those norms
// over the mean over the active units of theirs: ratio >= controller.grad_trigger_ratio
// triggers the step (control/heuristic_policy.hpp).
#pragma once
#include <cstdint>
#include <vector>

#include "ops/ops.hpp"

namespace kasmina {

struct WidthScore {
  bool valid = false;         // both means measured and the active one > 0
  double new_units = 0.0;     // mean ||gᵀ act(a w_k + b_k)|| over the next group
  double active_units = 0.0;  // mean ||gᵀ h_j|| over the active units
  double ratio = 0.0;         // new_units / active_units
};

struct WidthScoreInputs {
  int64_t batch = 0, in = 0, width = 0, next_out = 0, active = 0;
  std::vector<double> a;      // [batch, in]
  std::vector<double> h;      // [batch, width]
  std::vector<double> g;      // [batch, next_out]
  std::vector<double> w_new;  // [group, in]
  std::vector<double> b_new;  // [group]
  ops::Activation act = ops::Activation::relu;
};

WidthScore width_score(const WidthScoreInputs& in);

}  // namespace kasmina
