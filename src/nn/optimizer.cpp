#include "nn/optimizer.hpp"

#include "core/adamw.hpp"
#include "core/env_switch.hpp"
#include "core/sgd.hpp"

namespace kasmina {

namespace {

ProcessSwitch optimizer_bf16_copies_switch("KASMINA_OPTIMIZER_BF16_COPIES", true);

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
  ops::MultiTensorPlan plan(std::move(p), std::move(g), std::move(m), std::move(v));
  // The layers' bf16 weight copies, rewritten by every step (Parameter::bf16_copy).
  std::vector<Tensor> copies;
  bool any = false;
  for (Parameter* prm : params) {
    copies.push_back(prm->bf16_copy);
    any = any || prm->bf16_copy.defined();
  }
  if (any) plan.keep_bf16_copies(std::move(copies));
  return plan;
}

}  // namespace

bool optimizer_bf16_copies() {
  return optimizer_bf16_copies_switch.on();
}

void set_optimizer_bf16_copies(bool on) {
  optimizer_bf16_copies_switch.set(on);
}

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

ops::MlpStepUpdate Optimizer::update_args(const Tensor& step) {
  ops::MlpStepUpdate u;
  u.plan = &plan_;
  u.sgd = cfg_.type != OptimizerType::adamw;
  u.adamw.beta1 = static_cast<float>(cfg_.beta1);
  u.adamw.beta2 = static_cast<float>(cfg_.beta2);
  u.adamw.eps = static_cast<float>(cfg_.eps);
  u.adamw.weight_decay = static_cast<float>(cfg_.weight_decay);
  u.sgd_hyper.momentum = static_cast<float>(cfg_.momentum);
  u.sgd_hyper.weight_decay = static_cast<float>(cfg_.weight_decay);
  u.sgd_hyper.nesterov = cfg_.nesterov;
  u.schedule = schedule_;
  u.step = &step;
  return u;
}

void Optimizer::step(const Tensor& step) {
  const ops::MlpStepUpdate u = update_args(step);
  if (u.sgd)
    ops::sgd_step(plan_, u.sgd_hyper, schedule_, step);
  else
    ops::adamw_step(plan_, u.adamw, schedule_, step);
}

}  // namespace kasmina
