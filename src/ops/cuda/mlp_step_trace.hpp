// Diagnostics and A/B switches of the fused MLP step (kernels/mlp_step.cu). With
// KASMINA_MLP_STEP_TRACE=1 in the environment every launch records, per thread block and phase,
// when the block started the phase's work (after the grid barrier) and when it finished it
// (globaltimer, ns); the launcher then waits for the kernel (a host synchronisation: diagnostics
// only, never in training) and prints one line per phase to stderr.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kasmina::ops::cuda {

bool mlp_step_trace_on();
// KASMINA_MLP_DX_IN_LOSS=0 (an A/B switch of the plan): the input gradient through the logits
// layer as a GEMM phase of its own instead of computed by the loss phase's warps.
bool mlp_step_dx_in_loss();
// KASMINA_MLP_LOGITS_IN_LOSS=0 (an A/B switch of the plan): the logits as the last layer's forward
// GEMM phase instead of computed by the loss phase's warps (which needs the input gradient there
// too). Process-wide; set_... overrides it (tests).
bool mlp_step_logits_in_loss();
void set_mlp_step_logits_in_loss(bool on);
// KASMINA_MLP_LATE_DW=0 (an A/B switch of the plan): every weight gradient in the phase of the
// input gradient below it, never moved into the last GEMM phase (kernels/mlp_step_plan.cuh).
// Process-wide; set_... overrides it (tests).
bool mlp_step_late_weight_grads();
void set_mlp_step_late_weight_grads(bool on);
// KASMINA_MLP_SPLIT_COST=N (an A/B switch of the plan, 1 to 8; default 2): what one split of a
// tile along k is assumed to cost, in slabs, when the plan weighs splitting a phase's tiles.
int mlp_step_split_cost();
// times[(phase * blocks + block) * 2 + {0: start, 1: end}].
void print_mlp_step_trace(const std::vector<uint64_t>& times, int blocks,
                          const std::vector<std::string>& phase_names);

}  // namespace kasmina::ops::cuda
