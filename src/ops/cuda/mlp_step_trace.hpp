// Diagnostics of the fused MLP step (kernels/mlp_step.cu): with KASMINA_MLP_STEP_TRACE=1 in the
// environment every launch records, per thread block and phase, when the block started the
// phase's work (after the grid barrier) and when it finished it (globaltimer, ns); the launcher
// then waits for the kernel (a host synchronisation: diagnostics only, never in training) and
// prints one line per phase to stderr.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kasmina::ops::cuda {

bool mlp_step_trace_on();
// times[(phase * blocks + block) * 2 + {0: start, 1: end}].
void print_mlp_step_trace(const std::vector<uint64_t>& times, int blocks,
                          const std::vector<std::string>& phase_names);

}  // namespace kasmina::ops::cuda
