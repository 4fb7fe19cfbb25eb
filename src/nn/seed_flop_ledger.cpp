#include "nn/seed_flop_ledger.hpp"

#include <cstring>

#include "core/error.hpp"
#include "morph/blueprint_registry.hpp"
#include "morph/seed_flops.hpp"

namespace kasmina::morph {

void SeedFlopLedger::reset(int32_t seeds, const BlueprintShape& shape) {
  shape_ = shape;
  committed_ = 0.0;
  stage_.assign(static_cast<size_t>(seeds), static_cast<int32_t>(Stage::dormant));
  blueprint_.assign(static_cast<size_t>(seeds), -1);
  cursor_.assign(static_cast<size_t>(seeds), kUncounted);
}

void SeedFlopLedger::adopt(const std::vector<int32_t>& stages,
                           const std::vector<int32_t>& blueprints) {
  KASMINA_CHECK(stages.size() == stage_.size() && blueprints.size() == stage_.size(),
                "SeedFlopLedger::adopt: seed count differs");
  stage_ = stages;
  blueprint_ = blueprints;
  cursor_.assign(stage_.size(), kUncounted);
}

double SeedFlopLedger::per_step(int32_t s) const {
  const BlueprintDescriptor* d = find_blueprint(blueprint_[static_cast<size_t>(s)]);
  if (!d || !d->flops) return 0.0;
  return seed_step_flops(d->flops(*d, shape_), stage_[static_cast<size_t>(s)],
                         d->param_count(*d, shape_), batch_, shape_.chunk);
}

void SeedFlopLedger::observe(const MorphEvent& e) {
  if (e.seed < 0 || e.seed >= static_cast<int32_t>(stage_.size())) return;
  if (reason_is_refusal(static_cast<Reason>(e.reason))) return;
  const auto s = static_cast<size_t>(e.seed);
  if (cursor_[s] != kUncounted && e.step >= cursor_[s])
    committed_ += per_step(e.seed) * static_cast<double>(e.step - cursor_[s] + 1);
  stage_[s] = e.to;
  if (e.to == static_cast<int32_t>(Stage::dormant))
    blueprint_[s] = -1;
  else if (e.blueprint >= 0)
    blueprint_[s] = e.blueprint;
  cursor_[s] = e.step + 1;
}

double SeedFlopLedger::total(int64_t last_boundary_step) const {
  double t = committed_;
  for (size_t s = 0; s < stage_.size(); ++s)
    if (cursor_[s] != kUncounted && last_boundary_step >= cursor_[s])
      t += per_step(static_cast<int32_t>(s)) *
           static_cast<double>(last_boundary_step - cursor_[s] + 1);
  return t;
}

void SeedFlopLedger::save(StateWriter& out) const {
  const auto n = static_cast<int64_t>(stage_.size());
  out.tensor("flops_stage", Tensor::from_vector(stage_, {n}));
  out.tensor("flops_blueprint", Tensor::from_vector(blueprint_, {n}));
  out.tensor("flops_cursor", Tensor::from_vector(cursor_, {n}));
  out.number("flops_committed", committed_);
  out.integer("flops_batch", batch_);
}

void SeedFlopLedger::load(const StateReader& in) {
  const Tensor* stage = in.find("flops_stage");
  if (!stage) return;
  const auto n = static_cast<int64_t>(stage_.size());
  const std::pair<const char*, DType> entries[] = {
      {"flops_stage", DType::i32}, {"flops_blueprint", DType::i32}, {"flops_cursor", DType::i64}};
  for (const auto& [name, dtype] : entries) {
    const Tensor& t = in.tensor(name);
    if (t.dtype() != dtype)
      throw UserError("checkpoint: '" + in.prefix() + name + "' has dtype " +
                      dtype_name(t.dtype()) + ", expected " + dtype_name(dtype));
    if (t.numel() != n)
      throw UserError("checkpoint: '" + in.prefix() + name + "' holds " +
                      std::to_string(t.numel()) + " seeds but this run's layer has " +
                      std::to_string(n));
  }
  stage_ = stage->to_vector<int32_t>();
  for (size_t s = 0; s < stage_.size(); ++s)
    if (stage_[s] < 0 || stage_[s] >= kStageCount)
      throw UserError("checkpoint: '" + in.prefix() + "flops_stage': seed " + std::to_string(s) +
                      " is " + std::to_string(stage_[s]) + " (allowed: 0.." +
                      std::to_string(kStageCount - 1) + ", a stage code)");
  blueprint_ = in.tensor("flops_blueprint").to_vector<int32_t>();
  cursor_ = in.tensor("flops_cursor").to_vector<int64_t>();
  committed_ = in.number("flops_committed");
  batch_ = in.integer("flops_batch");
}

}  // namespace kasmina::morph
