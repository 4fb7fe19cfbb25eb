#include "ops/cuda/mlp_step_trace.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/env_switch.hpp"

namespace kasmina::ops::cuda {

namespace {
ProcessSwitch logits_in_loss("KASMINA_MLP_LOGITS_IN_LOSS", true);
ProcessSwitch late_weight_grads("KASMINA_MLP_LATE_DW", true);
}  // namespace

bool mlp_step_trace_on() {
  static const bool on = [] {
    const char* v = std::getenv("KASMINA_MLP_STEP_TRACE");
    return v != nullptr && std::strcmp(v, "0") != 0;
  }();
  return on;
}

bool mlp_step_dx_in_loss() {
  static const bool on = [] {
    const char* v = std::getenv("KASMINA_MLP_DX_IN_LOSS");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on;
}

bool mlp_step_logits_in_loss() {
  return logits_in_loss.on();
}
void set_mlp_step_logits_in_loss(bool on) {
  logits_in_loss.set(on);
}
bool mlp_step_late_weight_grads() {
  return late_weight_grads.on();
}
void set_mlp_step_late_weight_grads(bool on) {
  late_weight_grads.set(on);
}

int mlp_step_split_cost() {
  static const int cost = [] {
    const char* v = std::getenv("KASMINA_MLP_SPLIT_COST");
    const int n = v ? std::atoi(v) : 0;
    return n >= 1 && n <= 8 ? n : 2;
  }();
  return cost;
}

void print_mlp_step_trace(const std::vector<uint64_t>& times, int blocks,
                          const std::vector<std::string>& phase_names) {
  uint64_t t0 = UINT64_MAX;
  for (uint64_t t : times)
    if (t != 0) t0 = std::min(t0, t);
  std::fprintf(stderr, "[mlp_step trace] %d blocks; times in us from the first block's start\n",
               blocks);
  for (size_t p = 0; p < phase_names.size(); ++p) {
    uint64_t first = UINT64_MAX, last_start = 0, last_end = 0, longest = 0;
    std::vector<uint64_t> work;
    for (int b = 0; b < blocks; ++b) {
      const uint64_t s = times[(p * blocks + b) * 2], e = times[(p * blocks + b) * 2 + 1];
      first = std::min(first, s);
      last_start = std::max(last_start, s);
      last_end = std::max(last_end, e);
      longest = std::max(longest, e - s);
      work.push_back(e - s);
    }
    std::sort(work.begin(), work.end());
    std::fprintf(stderr,
                 "[mlp_step trace] phase %zu %-40s start %7.2f (+%5.2f spread)  work median "
                 "%6.2f max %6.2f  end %7.2f\n",
                 p, phase_names[p].c_str(), (first - t0) * 1e-3, (last_start - first) * 1e-3,
                 work[work.size() / 2] * 1e-3, longest * 1e-3, (last_end - t0) * 1e-3);
  }
}

}  // namespace kasmina::ops::cuda
