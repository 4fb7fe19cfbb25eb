// The loss guard: decides on the device, every training step and without a host sync, whether
// the step's mean loss is non-finite or a spike, and leaves an i32 flag that later kernels (the
// optimizer, the morphogenetic lifecycle step) and, at its cadence, the host can read.
//
// Per step, with sum = loss_sum (the trainer's f64 accumulator after softmax_xent) and
// mark = the accumulator at the end of the previous guarded step:
//   mean = (sum - mark) / batch
//   flag = 1 (non_finite) when mean is NaN or ±Inf,
//          2 (spike)      when accepted >= warmup_steps and mean > spike_factor * running,
//          0 otherwise.
//   flagged step: loss_sum is set back to mark (the step's loss is left out of the epoch's
//                 accumulator, so one NaN does not poison the rest of the epoch), `flagged`
//                 += 1, last_flagged_mean = mean, last_flagged_kind = flag, and dlogits (when
//                 given) is zeroed, so the backward of this step produces zero (finite) gradients.
//   accepted step: running = running + (mean - running) / (accepted + 1) while
//                 accepted < warmup_steps (the plain average of the first steps), else
//                 running = ema_decay * running + (1 - ema_decay) * mean; accepted += 1;
//                 mark = sum.
// Whenever the trainer resets loss_sum (new epoch), it must reset mark too:
// ops::fill(state.mark, 0.0).
//
// Debug hook (ControllerConfig::debug_nan_step): inject_nan_at_step poisons loss_sum and
// dlogits with NaN when the device step counter equals nan_step. It reads the counter on the
// device, so it is safe inside a captured CUDA graph.
#pragma once
#include <cstdint>

#include "core/tensor.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::ops {

struct LossGuardParams {
  float spike_factor = 3.0f;  // > 1
  int32_t warmup_steps = 5;   // >= 1: accepted steps before the spike test is armed
  float ema_decay = 0.99f;    // in [0, 1)
};

enum class LossGuardFlag : int32_t { ok = 0, non_finite = 1, spike = 2 };

// The guard's device state (all on one device).
struct LossGuardState {
  Tensor mark;               // f64[1] loss_sum at the end of the previous guarded step
  Tensor running;            // f64[1] running average of accepted step mean losses
  Tensor accepted;           // i64[1] steps accepted so far
  Tensor flagged;            // i64[1] steps flagged so far
  Tensor last_flagged_mean;  // f64[1] mean loss of the last flagged step
  Tensor last_flagged_kind;  // i32[1] LossGuardFlag of the last flagged step (0: none yet)
  Tensor flag;               // i32[1] LossGuardFlag of the last guarded step
};

// A zeroed state on `dev`.
LossGuardState make_loss_guard_state(Device dev);

// Guards one step (see above). loss_sum f64[1]; batch > 0; dlogits f32 (any shape) or null.
// UserError for parameters out of range.
void loss_guard(Tensor& loss_sum, int64_t batch, const LossGuardParams& p, LossGuardState& st,
                Tensor* dlogits);
KASMINA_OP_TWINS(void, loss_guard,
                 (Tensor & loss_sum, int64_t batch, const LossGuardParams& p, LossGuardState& st,
                  Tensor* dlogits))

// Debug hook: when step (i64[1], the device step counter) == nan_step, loss_sum (f64[1]) +=
// NaN and every element of dlogits (f32, or null) becomes NaN. nan_step < 0 never fires.
void inject_nan_at_step(const Tensor& step, int64_t nan_step, Tensor& loss_sum, Tensor* dlogits);
KASMINA_OP_TWINS(void, inject_nan_at_step,
                 (const Tensor& step, int64_t nan_step, Tensor& loss_sum, Tensor* dlogits))

}  // namespace kasmina::ops
