#include "nn/optimizer.hpp"

#include "core/adamw.hpp"
#include "core/sgd.hpp"

namespace kasmina {

namespace {

ops::MultiTensorPlan make_plan(const OptimizerConfig& cfg, const std::vector<Parameter*>& params,
                               Device dev) {
  std::vector<Tensor> p, g, m, v;
  for (Parameter* prm : params) {
    p.push_back(prm->value);
    g.push_back(prm->grad);
    m.push_back(Tensor::zeros(prm->value.shape(), DType::f32, dev));
    if (cfg.type == OptimizerType::adamw)
      v.push_back(Tensor::zeros(prm->value.shape(), DType::f32, dev));
  }
  return ops::MultiTensorPlan(std::move(p), std::move(g), std::move(m), std::move(v));
}

}  // namespace

LrSchedule make_schedule(const OptimizerConfig& opt, const ScheduleConfig& sched,
                         int64_t total_steps) {
  LrSchedule s;
  s.type = sched.type;
  s.base_lr = static_cast<float>(opt.lr);
  s.min_lr = static_cast<float>(sched.min_lr);
  s.warmup_steps = sched.warmup_steps;
  s.total_steps = total_steps;
  return s;
}

Optimizer::Optimizer(const OptimizerConfig& cfg, const LrSchedule& schedule,
                     const std::vector<Parameter*>& params, Device dev)
    : cfg_(cfg), schedule_(schedule), plan_(make_plan(cfg, params, dev)) {
  for (const Parameter* p : params) names_.push_back(p->name);
}

int Optimizer::flops_per_parameter() const {
  return cfg_.type == OptimizerType::adamw ? kAdamWFlopsPerParameter
                                           : sgd_flops_per_parameter(cfg_.nesterov);
}

void Optimizer::step(const Tensor& step) {
  if (cfg_.type == OptimizerType::adamw) {
    ops::AdamWHyper h;
    h.beta1 = static_cast<float>(cfg_.beta1);
    h.beta2 = static_cast<float>(cfg_.beta2);
    h.eps = static_cast<float>(cfg_.eps);
    h.weight_decay = static_cast<float>(cfg_.weight_decay);
    ops::adamw_step(plan_, h, schedule_, step);
  } else {
    ops::SgdHyper h;
    h.momentum = static_cast<float>(cfg_.momentum);
    h.weight_decay = static_cast<float>(cfg_.weight_decay);
    h.nesterov = cfg_.nesterov;
    ops::sgd_step(plan_, h, schedule_, step);
  }
}

}  // namespace kasmina
