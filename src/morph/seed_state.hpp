// Seed state as a structure of arrays on the layer's device: one contiguous array of S values
// per field (all fields are 4 bytes wide and live in one allocation [kSeedFieldCount, S], so a
// checkpoint or a test reads/writes the whole state with one copy). Kernels see it through
// SeedStateView (raw pointers, no per-seed objects).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/hd.hpp"
#include "core/tensor.hpp"

namespace kasmina::morph {

// Bump when fields are added, removed or change meaning (checkpoints store it).
inline constexpr int32_t kSeedStateSchemaVersion = 2;  // 2: iso_sq_ema

enum class SeedField : int32_t {
  stage = 0,               // i32 Stage
  blueprint = 1,           // i32 BlueprintKind, -1 when none
  slot = 2,                // i32 pool slot, -1 when none (the seed's offset is slot * stride)
  steps_in_stage = 3,      // i32 step boundaries spent in the current stage
  strategy = 4,            // i32 GraftingKind
  alpha = 5,               // f32 blend weight
  parent_stage = 6,        // i32 previous Stage
  error_count = 7,         // i32 non-finite losses / gradients seen
  eval_score = 8,          // f32 evaluation score set by the host
  has_eval_score = 9,      // i32 1 once a score was set in the current EVALUATING stage
  iso_loss_ema = 10,       // f32 isolated (reconstruction) loss EMA, -1 until measured
  drift_ema = 11,          // f32 activation-drift EMA
  input_ms_ema = 12,       // f32 EMA of the chunk's mean square (drift reference), -1 unset
  grad_norm_ema = 13,      // f32 blueprint gradient-norm EMA, -1 until measured
  improvement = 14,        // f32 held-out loss improvement reported by the host
  ramp_steps = 15,         // i32 unpaused GRAFTING steps
  opt_step = 16,           // i32 AdamW steps taken by the seed's blueprint
  snapshot_opt_step = 17,  // i32 opt_step at graft start
  has_snapshot = 18,       // i32 1 when the pre-graft snapshot is valid
  iso_sq_ema = 19,         // f32 TRAINING (task_gradient): EMA of the squared measurement, 0 unset
};
inline constexpr int32_t kSeedFieldCount = 20;
const char* seed_field_name(SeedField f);
bool seed_field_is_float(SeedField f);

struct SeedStateView {
  int32_t seeds = 0;
  int32_t* stage = nullptr;
  int32_t* blueprint = nullptr;
  int32_t* slot = nullptr;
  int32_t* steps_in_stage = nullptr;
  int32_t* strategy = nullptr;
  float* alpha = nullptr;
  int32_t* parent_stage = nullptr;
  int32_t* error_count = nullptr;
  float* eval_score = nullptr;
  int32_t* has_eval_score = nullptr;
  float* iso_loss_ema = nullptr;
  float* drift_ema = nullptr;
  float* input_ms_ema = nullptr;
  float* grad_norm_ema = nullptr;
  float* improvement = nullptr;
  int32_t* ramp_steps = nullptr;
  int32_t* opt_step = nullptr;
  int32_t* snapshot_opt_step = nullptr;
  int32_t* has_snapshot = nullptr;
  float* iso_sq_ema = nullptr;
};

// The view of a state block laid out as [kSeedFieldCount, seeds] 4-byte words at `base` (host or
// device memory; the CUDA lifecycle kernel also views a copy in shared memory).
KASMINA_HD SeedStateView make_seed_state_view(void* base, int32_t seeds) {
  auto* w = static_cast<int32_t*>(base);
  auto i32 = [&](SeedField f) { return w + static_cast<int64_t>(f) * seeds; };
  auto f32 = [&](SeedField f) { return reinterpret_cast<float*>(i32(f)); };
  SeedStateView v;
  v.seeds = seeds;
  v.stage = i32(SeedField::stage);
  v.blueprint = i32(SeedField::blueprint);
  v.slot = i32(SeedField::slot);
  v.steps_in_stage = i32(SeedField::steps_in_stage);
  v.strategy = i32(SeedField::strategy);
  v.alpha = f32(SeedField::alpha);
  v.parent_stage = i32(SeedField::parent_stage);
  v.error_count = i32(SeedField::error_count);
  v.eval_score = f32(SeedField::eval_score);
  v.has_eval_score = i32(SeedField::has_eval_score);
  v.iso_loss_ema = f32(SeedField::iso_loss_ema);
  v.drift_ema = f32(SeedField::drift_ema);
  v.input_ms_ema = f32(SeedField::input_ms_ema);
  v.grad_norm_ema = f32(SeedField::grad_norm_ema);
  v.improvement = f32(SeedField::improvement);
  v.ramp_steps = i32(SeedField::ramp_steps);
  v.opt_step = i32(SeedField::opt_step);
  v.snapshot_opt_step = i32(SeedField::snapshot_opt_step);
  v.has_snapshot = i32(SeedField::has_snapshot);
  v.iso_sq_ema = f32(SeedField::iso_sq_ema);
  return v;
}

// A host copy of the whole state (tests, checkpoints, telemetry).
struct HostSeedState {
  std::vector<int32_t> words;  // [kSeedFieldCount * seeds]
  int32_t seeds = 0;
  SeedStateView view() { return make_seed_state_view(words.data(), seeds); }
};

// The device arrays of one layer's seeds.
class SeedState {
 public:
  SeedState() = default;
  SeedState(int32_t seeds, Device dev);
  int32_t seeds() const { return seeds_; }
  Device device() const { return storage_.device(); }
  // i32 [kSeedFieldCount, seeds]; floats are stored bit-cast.
  const Tensor& storage() const { return storage_; }
  SeedStateView view() const { return make_seed_state_view(storage_.raw(), seeds_); }
  // Every seed DORMANT, no blueprint or slot, EMAs unset.
  void reset();
  HostSeedState download() const;  // synchronous
  void upload(const HostSeedState& host);
  static HostSeedState initial_host_state(int32_t seeds);

 private:
  int32_t seeds_ = 0;
  Tensor storage_;
};

}  // namespace kasmina::morph
