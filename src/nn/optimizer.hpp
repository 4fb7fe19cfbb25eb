// The optimizer of the host network: moment buffers on the model's device and one fused
// multi-tensor update per step (ops::adamw_step / ops::sgd_step). The learning rate is computed
// on the device from the schedule and the device step counter.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/stateful.hpp"
#include "nn/layer.hpp"
#include "ops/mlp_step_ops.hpp"
#include "ops/ops.hpp"

namespace kasmina {

// Checkpoint section: the moments under "optimizer/m/<parameter>" and "optimizer/v/<parameter>"
// (nn/optimizer_state.cpp).
class Optimizer final : public Stateful {
 public:
  Optimizer(const OptimizerConfig& cfg, const LrSchedule& schedule,
            const std::vector<Parameter*>& params, Device dev);
  // Updates every parameter from its gradient; `step` (i64[1], device) = steps taken so far.
  void step(const Tensor& step);
  // The same update as the last part of the fused MLP step (ops::MlpStepUpdate; valid while
  // this optimizer and `step` live).
  ops::MlpStepUpdate update_args(const Tensor& step);
  // Each step() then also adds 1 to every element of `counters` in the optimizer's own launch
  // (ops::MultiTensorPlan::advance_after_step), after reading `step`.
  void advance_after_step(Tensor counters) { plan_.advance_after_step(std::move(counters)); }
  float lr_at_step(int64_t step) const { return lr_at(schedule_, step); }
  // Analytic FLOPs of one update of one parameter (core/adamw.hpp, core/sgd.hpp).
  int flops_per_parameter() const;
  const LrSchedule& schedule() const { return schedule_; }
  // Moment buffers (for checkpoints): m, and v for AdamW (empty for SGD).
  const std::vector<Tensor>& first_moments() const { return plan_.m(); }
  const std::vector<Tensor>& second_moments() const { return plan_.v(); }
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

 private:
  OptimizerConfig cfg_;
  LrSchedule schedule_;
  ops::MultiTensorPlan plan_;
  std::vector<std::string> names_;  // parameter names, in plan order
};

LrSchedule make_schedule(const OptimizerConfig& opt, const ScheduleConfig& sched,
                         int64_t total_steps);

}  // namespace kasmina
