// CPU twin of morph_lifecycle_step: the same per-seed rules as the CUDA kernel, applied in
// seed order (pass A, pass B), then the host commands in queue order.
#include "morph/lifecycle_commands.hpp"
#include "ops/morph/blueprint_rows.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cpu {

namespace {

using namespace kasmina::morph;

template <class T>
void lifecycle_impl(const MorphLayerBuffers& L, const MorphLifecycleArgs& a, const Tensor& step) {
  KASMINA_CHECK(step.numel() == 1 && step.dtype() == DType::i64 && step.device().is_cpu(),
                "morph_lifecycle_step: step must be i64[1] on the layer's device");
  const int64_t now = step.data<int64_t>()[0];
  const SeedStateView st = morph_detail::state_view(L);
  const PoolView<T> pool = morph_detail::pool_view<T>(L);
  EventRingHeader* ring_header = morph_detail::event_header(L);
  MorphEvent* ring = morph_detail::event_ring(L);
  auto emit = [&](const MorphEvent& e) {
    ring[ring_header->head % L.event_capacity] = e;
    ring_header->head += 1;
  };
  const float* step_stats = L.step_stats.data<float>();
  const float* gnorm = L.grad_norm.data<float>();
  const LifecycleParams& lp = a.lifecycle;

  if (a.loss_alarm.defined())
    KASMINA_CHECK(a.loss_alarm.numel() == 1 && a.loss_alarm.device().is_cpu(),
                  "morph_lifecycle_step: loss_alarm must be i32[1] on the layer's device");
  const int32_t alarm = a.loss_alarm.defined() ? a.loss_alarm.data<int32_t>()[0] : 0;

  // Pass A: time and gates.
  for (int32_t s = 0; s < L.seeds; ++s) {
    SeedMeasurements m;
    m.loss_alarm = alarm;
    m.stats_fresh = a.stats_fresh;
    m.input_mean_square = step_stats[s * kMorphStepStats + 0];
    m.iso_loss = step_stats[s * kMorphStepStats + 1];
    m.grads_fresh = a.grads_fresh;
    m.grad_norm = gnorm[s];
    const int32_t from = st.stage[s];
    const TransitionDecision d = advance_seed(st, s, lp, a.grafting, m);
    if (d.to < 0) continue;
    emit(make_event(now, a.rules.layer, s, from, st.blueprint[s], d));
    apply_transition(st, s, d.to, pool);
  }
  // Pass B: training slots in seed order.
  int32_t training = 0;
  for (int32_t s = 0; s < L.seeds; ++s)
    training += st.stage[s] == static_cast<int32_t>(Stage::training) ? 1 : 0;
  for (int32_t s = 0; s < L.seeds && training < lp.max_training_seeds; ++s) {
    if (!wants_training_slot(st, s, lp)) continue;
    const TransitionDecision d =
        make_decision(Stage::training, Reason::training_slot, static_cast<float>(training));
    emit(make_event(now, a.rules.layer, s, st.stage[s], st.blueprint[s], d));
    apply_transition(st, s, d.to, pool);
    ++training;
  }
  // Host commands in queue order.
  CommandBufferHeader* ch = morph_detail::command_header(L);
  const MorphCommand* cmds = morph_detail::command_list(L);
  const int32_t count = ch->count < L.command_capacity ? ch->count : L.command_capacity;
  for (int32_t i = 0; i < count; ++i) {
    const CommandOutcome o = apply_command(cmds[i], st, pool, lp, a.rules, now, &training);
    emit(o.event);
    if (o.init_slot >= 0) {
      init_slot(pool, o.init_slot, o.init_blueprint, a.rules.shape, a.rules.run_seed, a.rules.layer,
                cmds[i].seed, 0, 1);
      morph_rows::init_registered(pool, o.init_slot, o.init_blueprint, a.rules.shape,
                                  a.rules.run_seed, a.rules.layer, cmds[i].seed);
    }
  }
  ch->count = 0;
}

}  // namespace

void morph_lifecycle_step(const MorphLayerBuffers& L, const MorphLifecycleArgs& a,
                          const Tensor& step) {
  if (L.pool.dtype() == DType::f64) return lifecycle_impl<double>(L, a, step);
  L.pool.check_dtype(DType::f32);
  lifecycle_impl<float>(L, a, step);
}

}  // namespace kasmina::ops::cpu
