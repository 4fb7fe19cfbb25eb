#include "morph/seed_state.hpp"

#include "core/enum_table.hpp"
#include "core/error.hpp"
#include "morph/stage.hpp"

namespace kasmina::morph {

constexpr EnumTable<SeedField, 20> kSeedFieldNames{{
    {"stage", SeedField::stage},
    {"blueprint", SeedField::blueprint},
    {"slot", SeedField::slot},
    {"steps_in_stage", SeedField::steps_in_stage},
    {"strategy", SeedField::strategy},
    {"alpha", SeedField::alpha},
    {"parent_stage", SeedField::parent_stage},
    {"error_count", SeedField::error_count},
    {"eval_score", SeedField::eval_score},
    {"has_eval_score", SeedField::has_eval_score},
    {"iso_loss_ema", SeedField::iso_loss_ema},
    {"drift_ema", SeedField::drift_ema},
    {"input_ms_ema", SeedField::input_ms_ema},
    {"grad_norm_ema", SeedField::grad_norm_ema},
    {"improvement", SeedField::improvement},
    {"ramp_steps", SeedField::ramp_steps},
    {"opt_step", SeedField::opt_step},
    {"snapshot_opt_step", SeedField::snapshot_opt_step},
    {"has_snapshot", SeedField::has_snapshot},
    {"iso_sq_ema", SeedField::iso_sq_ema},
}};

const char* seed_field_name(SeedField f) {
  return enum_name(kSeedFieldNames, f);
}

bool seed_field_is_float(SeedField f) {
  switch (f) {
    case SeedField::alpha:
    case SeedField::eval_score:
    case SeedField::iso_loss_ema:
    case SeedField::drift_ema:
    case SeedField::input_ms_ema:
    case SeedField::grad_norm_ema:
    case SeedField::improvement:
    case SeedField::iso_sq_ema:
      return true;
    default:
      return false;
  }
}

SeedState::SeedState(int32_t seeds, Device dev) : seeds_(seeds) {
  KASMINA_CHECK(seeds > 0, "SeedState: seed count must be positive");
  storage_ = Tensor::empty({kSeedFieldCount, seeds}, DType::i32, dev);
  reset();
}

HostSeedState SeedState::initial_host_state(int32_t seeds) {
  HostSeedState h;
  h.seeds = seeds;
  h.words.assign(static_cast<size_t>(kSeedFieldCount) * seeds, 0);
  SeedStateView v = h.view();
  for (int32_t s = 0; s < seeds; ++s) {
    v.stage[s] = static_cast<int32_t>(Stage::dormant);
    v.parent_stage[s] = static_cast<int32_t>(Stage::dormant);
    v.blueprint[s] = -1;
    v.slot[s] = -1;
    v.iso_loss_ema[s] = -1.0f;
    v.input_ms_ema[s] = -1.0f;
    v.grad_norm_ema[s] = -1.0f;
  }
  return h;
}

void SeedState::reset() {
  upload(initial_host_state(seeds_));
}

HostSeedState SeedState::download() const {
  HostSeedState h;
  h.seeds = seeds_;
  h.words = storage_.to_vector<int32_t>();
  return h;
}

void SeedState::upload(const HostSeedState& host) {
  KASMINA_CHECK(
      host.seeds == seeds_ && host.words.size() == static_cast<size_t>(kSeedFieldCount) * seeds_,
      "SeedState::upload: host state has a different seed count");
  storage_.copy_from(Tensor::from_vector(host.words, {kSeedFieldCount, seeds_}));
}

}  // namespace kasmina::morph
