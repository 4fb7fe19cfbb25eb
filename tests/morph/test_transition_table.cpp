// The transition table exhaustively (every allowed pair accepted, every other refused and
// logged), minimum steps, gates, and refusals through the layer's event ring.
#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "morph/lifecycle_commands.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

using S = Stage;

// The allowed pairs, written out by hand from the lifecycle specification.
const std::set<std::pair<S, S>>& expected_pairs() {
  static const std::set<std::pair<S, S>> pairs = {
      {S::dormant, S::germinated},     {S::germinated, S::training},
      {S::germinated, S::cancelled},   {S::training, S::grafting},
      {S::training, S::culled},        {S::training, S::cancelled},
      {S::grafting, S::stabilization}, {S::grafting, S::culled},
      {S::grafting, S::rolled_back},   {S::stabilization, S::evaluating},
      {S::stabilization, S::culled},   {S::stabilization, S::rolled_back},
      {S::evaluating, S::fine_tuning}, {S::evaluating, S::culled},
      {S::evaluating, S::rolled_back}, {S::fine_tuning, S::fossilized},
      {S::fine_tuning, S::culled},     {S::fine_tuning, S::rolled_back},
      {S::culled, S::dormant},         {S::cancelled, S::dormant},
      {S::rolled_back, S::dormant}};
  return pairs;
}

// One seed in `from` with every gate open, one free and one owned pool slot.
struct HostFixture {
  HostSeedState st = SeedState::initial_host_state(1);
  std::vector<double> pool;
  std::vector<int32_t> owner = {-1, -1};
  PoolView<double> pv;
  LifecycleParams lp;
  LayerRules rules;
  explicit HostFixture(S from, int32_t steps = 1000) {
    rules.allowed_blueprints = 0b111;
    rules.shape = BlueprintShape{8, 4, 4};
    pv.region = pool_region_width(blueprint_param_count(0, rules.shape));
    pv.slots = 2;
    pool.assign(static_cast<size_t>(pv.slot_stride() * 2), 0.0);
    pv.base = pool.data();
    pv.owner = owner.data();
    SeedStateView v = st.view();
    v.stage[0] = static_cast<int32_t>(from);
    v.steps_in_stage[0] = steps;
    v.iso_loss_ema[0] = 0.0f;
    v.alpha[0] = 1.0f;
    v.has_eval_score[0] = 1;
    v.eval_score[0] = 1.0f;
    if (from != S::dormant) {
      v.slot[0] = 1;
      v.blueprint[0] = 0;
      owner[1] = 0;
    }
  }
  MorphEvent request(S to, int32_t training_count = 0) {
    MorphCommand c{static_cast<int32_t>(CommandType::transition), 0, static_cast<int32_t>(to),
                   0.0f};
    int32_t count = training_count;
    return apply_command(c, st.view(), pv, lp, rules, 42, &count).event;
  }
  S stage() { return static_cast<S>(st.view().stage[0]); }
};

TEST(MorphTransitionTable, EveryPairAcceptedOrRefusedAsSpecified) {
  int accepted = 0, refused = 0;
  for (int32_t f = 0; f < kStageCount; ++f) {
    for (int32_t t = 0; t < kStageCount; ++t) {
      const S from = static_cast<S>(f), to = static_cast<S>(t);
      const bool allowed = expected_pairs().count({from, to}) != 0;
      EXPECT_EQ(transition_allowed(f, t), allowed) << stage_name(from) << "->" << stage_name(to);
      HostFixture fx(from);
      const MorphEvent e = fx.request(to);
      EXPECT_EQ(e.from, f);
      EXPECT_EQ(e.to, t);
      EXPECT_EQ(e.step, 42);
      if (allowed) {
        EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::command))
            << stage_name(from) << "->" << stage_name(to);
        EXPECT_EQ(fx.stage(), to);
        ++accepted;
      } else {
        EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::refused_illegal))
            << stage_name(from) << "->" << stage_name(to);
        EXPECT_EQ(fx.stage(), from);
        ++refused;
      }
    }
  }
  EXPECT_EQ(accepted, 21);
  EXPECT_EQ(refused, 121 - 21);
}

TEST(MorphTransitionTable, ReleaseFreesSlotAndGerminationTakesOne) {
  HostFixture culled(S::culled);
  culled.request(S::dormant);
  EXPECT_EQ(culled.owner[1], -1);
  EXPECT_EQ(culled.st.view().slot[0], -1);
  HostFixture dormant(S::dormant);
  const MorphEvent e = dormant.request(S::germinated);
  EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::command));
  EXPECT_EQ(dormant.st.view().slot[0], 0);
  EXPECT_EQ(dormant.owner[0], 0);
  EXPECT_EQ(dormant.st.view().blueprint[0], 0);
}

TEST(MorphTransitionTable, MinimumStepsGuardForwardMovesNotExits) {
  const std::pair<S, S> forward_moves[] = {{S::germinated, S::training},
                                           {S::training, S::grafting},
                                           {S::stabilization, S::evaluating},
                                           {S::evaluating, S::fine_tuning},
                                           {S::fine_tuning, S::fossilized}};
  for (const auto& [from, to] : forward_moves) {
    HostFixture fx(from, 0);
    fx.lp.min_steps[static_cast<int32_t>(from)] = 5;
    MorphEvent e = fx.request(to);
    EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::refused_min_steps)) << stage_name(from);
    EXPECT_EQ(fx.stage(), from);
    fx.st.view().steps_in_stage[0] = 5;
    e = fx.request(to);
    EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::command)) << stage_name(from);
    EXPECT_EQ(fx.stage(), to);
  }
  HostFixture grafting(S::grafting, 0);
  grafting.lp.min_steps[static_cast<int32_t>(S::grafting)] = 5;
  EXPECT_EQ(grafting.request(S::culled).reason, static_cast<int32_t>(Reason::command));
}

TEST(MorphTransitionTable, GatesRefuseWhenClosed) {
  {
    HostFixture fx(S::training);
    fx.st.view().iso_loss_ema[0] = 0.5f;  // above the 1e-3 threshold
    const MorphEvent e = fx.request(S::grafting);
    EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::refused_gate));
    EXPECT_FLOAT_EQ(e.value, 0.5f);
    fx.st.view().iso_loss_ema[0] = -1.0f;  // never measured
    EXPECT_EQ(fx.request(S::grafting).reason, static_cast<int32_t>(Reason::refused_gate));
  }
  {
    HostFixture fx(S::grafting);
    fx.st.view().alpha[0] = 0.5f;
    EXPECT_EQ(fx.request(S::stabilization).reason, static_cast<int32_t>(Reason::refused_gate));
  }
  {
    HostFixture fx(S::evaluating);
    fx.st.view().eval_score[0] = 0.0f;  // no improvement
    EXPECT_EQ(fx.request(S::fine_tuning).reason, static_cast<int32_t>(Reason::refused_gate));
    fx.st.view().eval_score[0] = 0.25f;
    fx.st.view().has_eval_score[0] = 0;  // no score measured
    EXPECT_EQ(fx.request(S::fine_tuning).reason, static_cast<int32_t>(Reason::refused_gate));
  }
  {
    HostFixture fx(S::germinated);
    fx.lp.max_training_seeds = 2;
    EXPECT_EQ(fx.request(S::training, 2).reason, static_cast<int32_t>(Reason::refused_gate));
    EXPECT_EQ(fx.request(S::training, 1).reason, static_cast<int32_t>(Reason::command));
  }
}

TEST(MorphTransitionTable, AutomaticGatesAndTimeouts) {
  LifecycleParams lp;
  lp.min_steps[static_cast<int32_t>(S::training)] = 2;
  lp.max_training_steps = 4;
  lp.max_evaluating_steps = 3;
  GraftingParams gp;
  SeedMeasurements m;
  // TRAINING with a loss above the threshold is culled at max_training_steps.
  {
    HostFixture fx(S::training, 0);
    fx.st.view().iso_loss_ema[0] = -1.0f;
    m.stats_fresh = true;
    m.iso_loss = 0.5f;
    TransitionDecision d;
    int steps = 0;
    do {
      d = advance_seed(fx.st.view(), 0, lp, gp, m);
      ++steps;
    } while (d.to < 0 && steps < 10);
    EXPECT_EQ(steps, 4);
    EXPECT_EQ(d.to, static_cast<int32_t>(S::culled));
    EXPECT_EQ(d.reason, static_cast<int32_t>(Reason::training_timeout));
  }
  // TRAINING with a loss under the threshold grafts once the minimum steps are done.
  {
    HostFixture fx(S::training, 0);
    fx.st.view().iso_loss_ema[0] = -1.0f;
    m.iso_loss = 1e-5f;
    TransitionDecision d = advance_seed(fx.st.view(), 0, lp, gp, m);
    EXPECT_LT(d.to, 0);  // 1 step < min 2
    d = advance_seed(fx.st.view(), 0, lp, gp, m);
    EXPECT_EQ(d.to, static_cast<int32_t>(S::grafting));
    EXPECT_EQ(d.reason, static_cast<int32_t>(Reason::loss_gate));
  }
  // EVALUATING: negative score culls, no score times out.
  {
    HostFixture fx(S::evaluating, 100);
    fx.st.view().eval_score[0] = -0.1f;
    const TransitionDecision d = advance_seed(fx.st.view(), 0, lp, gp, SeedMeasurements{});
    EXPECT_EQ(d.to, static_cast<int32_t>(S::culled));
    EXPECT_EQ(d.reason, static_cast<int32_t>(Reason::not_improved));
  }
  {
    HostFixture fx(S::evaluating, 0);
    fx.st.view().has_eval_score[0] = 0;
    TransitionDecision d;
    for (int i = 0; i < 3; ++i) d = advance_seed(fx.st.view(), 0, lp, gp, SeedMeasurements{});
    EXPECT_EQ(d.to, static_cast<int32_t>(S::culled));
    EXPECT_EQ(d.reason, static_cast<int32_t>(Reason::evaluation_timeout));
  }
  // Non-finite gradients: emergency exit to ROLLED_BACK once a snapshot exists.
  {
    HostFixture fx(S::fine_tuning, 0);
    fx.lp.max_errors = 1;
    fx.st.view().has_snapshot[0] = 1;
    SeedMeasurements bad;
    bad.grads_fresh = true;
    bad.grad_norm = std::numeric_limits<float>::quiet_NaN();
    LifecycleParams lp2 = fx.lp;
    lp2.min_steps[static_cast<int32_t>(S::fine_tuning)] = 100;
    EXPECT_LT(advance_seed(fx.st.view(), 0, lp2, gp, bad).to, 0);
    const TransitionDecision d = advance_seed(fx.st.view(), 0, lp2, gp, bad);
    EXPECT_EQ(d.to, static_cast<int32_t>(S::rolled_back));
    EXPECT_EQ(d.reason, static_cast<int32_t>(Reason::non_finite));
  }
}

TEST(MorphTransitionTable, LayerLogsRefusalsAndNeverAppliesThem) {
  MorphConfig cfg = testing::small_config(32, 4, /*slots=*/1);
  cfg.allowed_blueprints = {BlueprintKind::low_rank};
  KasminaLayer layer(cfg);
  layer.prepare(4, Device::cpu());
  testing::StepClock clock(Device::cpu());
  clock.set(7);
  layer.request_transition(0, Stage::training);     // DORMANT -> TRAINING: illegal
  layer.germinate(1, BlueprintKind::residual_mlp);  // not allowed in this layer
  layer.germinate(2, BlueprintKind::low_rank);      // takes the only slot
  layer.germinate(3, BlueprintKind::low_rank);      // pool exhausted
  layer.germinate(9, BlueprintKind::low_rank);      // no such seed
  layer.request_transition(2, Stage::fossilized);   // GERMINATED -> FOSSILIZED: illegal
  layer.end_step(clock.ctx);
  const std::vector<MorphEvent> ev = layer.drain_events();
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_EQ(ev[0].reason, static_cast<int32_t>(Reason::refused_illegal));
  EXPECT_EQ(ev[0].to, static_cast<int32_t>(Stage::training));
  EXPECT_EQ(ev[1].reason, static_cast<int32_t>(Reason::refused_blueprint));
  EXPECT_EQ(ev[2].reason, static_cast<int32_t>(Reason::command));
  EXPECT_EQ(ev[2].to, static_cast<int32_t>(Stage::germinated));
  EXPECT_EQ(ev[3].reason, static_cast<int32_t>(Reason::refused_pool_exhausted));
  EXPECT_EQ(ev[4].reason, static_cast<int32_t>(Reason::refused_bad_seed));
  EXPECT_EQ(ev[5].reason, static_cast<int32_t>(Reason::refused_illegal));
  for (const MorphEvent& e : ev) {
    EXPECT_EQ(e.step, 7);
    EXPECT_EQ(e.layer, 0);
  }
  HostSeedState h = layer.seed_state().download();
  EXPECT_EQ(h.view().stage[0], static_cast<int32_t>(Stage::dormant));
  EXPECT_EQ(h.view().stage[2], static_cast<int32_t>(Stage::germinated));
  EXPECT_EQ(h.view().stage[3], static_cast<int32_t>(Stage::dormant));
  // Training goes on after the refusal.
  const Tensor x = testing::random_tensor<float>({4, 32}, 3);
  EXPECT_TRUE(testing::bitwise_equal(layer.forward(x, Mode::train, clock.ctx), x));
}

}  // namespace
}  // namespace kasmina::morph
