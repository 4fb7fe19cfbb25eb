// A controller on a bus with two synthetic morphogenetic layers, fed by hand-written health
// reports, lifecycle events and validation measurements; the commands it publishes are
// collected (no layer is attached).
#pragma once
#include <memory>
#include <vector>

#include "control/controller.hpp"
#include "control/heuristic_policy.hpp"

namespace kasmina::control::testing {

// Layer 0: 4 seeds, all blueprints; layer 1: 4 seeds, low_rank and diag_scale. Chunk 16,
// hidden 4, rank 4: residual_mlp 148 parameters, low_rank 128, diag_scale 32.
inline std::vector<LayerObservation> two_layers() {
  LayerObservation a;
  a.layer = 0;
  a.allowed = {morph::BlueprintKind::residual_mlp, morph::BlueprintKind::low_rank,
               morph::BlueprintKind::diag_scale};
  a.shape = {16, 4, 4};
  a.seeds.resize(4);
  LayerObservation b = a;
  b.layer = 1;
  b.allowed = {morph::BlueprintKind::low_rank, morph::BlueprintKind::diag_scale};
  return {a, b};
}

inline ControllerConfig heuristic_config() {
  ControllerConfig c;
  c.type = ControllerType::heuristic;
  c.patience = 3;
  c.min_delta = 1e-3;
  c.max_active = 2;
  c.max_added_parameters = 100000;
  c.embargo_steps = 500;
  c.ucb_c = 1.0;
  c.seed_choice = "health";  // these tests choose by health; gradient: test_gradient_policy.cpp
  return c;
}

// Healthy telemetry (need = 1/(1+1) = 0.5) with one value changed per seed by the test.
inline morph::SeedTelemetry seed_stats(int32_t seed, double dead, double variance,
                                       float grad = -1.0f,
                                       morph::Stage stage = morph::Stage::dormant) {
  morph::SeedTelemetry t;
  t.seed = seed;
  t.stage = stage;
  t.samples = 1024;
  t.mean = 0.1;
  t.variance = variance;
  t.dead_fraction = dead;
  t.max_abs = 3.0;
  t.grad_norm_ema = grad;
  return t;
}

struct Rig {
  explicit Rig(const ControllerConfig& cfg = heuristic_config()) {
    auto policy = std::make_unique<HeuristicPolicy>(cfg, two_layers());
    heuristic = policy.get();
    controller = std::make_unique<Controller>(bus, std::move(policy), two_layers());
    bus.subscribe(Topic::commands,
                  [this](const Message& m) { commands.push_back(std::get<Command>(m.payload)); });
  }
  // Health report for every seed of both layers: all healthy except those in `special`.
  void health(int64_t step, const std::vector<std::pair<int32_t, morph::SeedTelemetry>>& special) {
    for (int32_t layer = 0; layer < 2; ++layer) {
      HealthReport h;
      h.layer = layer;
      for (int32_t s = 0; s < 4; ++s) h.seeds.push_back(seed_stats(s, 0.0, 1.0));
      for (const auto& [l, t] : special) {
        if (l == layer) h.seeds[static_cast<size_t>(t.seed)] = t;
      }
      bus.publish(step, std::move(h));
    }
  }
  void event(int64_t step, int32_t layer, int32_t seed, morph::Stage from, morph::Stage to,
             morph::Reason reason, morph::BlueprintKind bp, float value = 0.0f) {
    morph::MorphEvent e{step,
                        layer,
                        seed,
                        static_cast<int32_t>(from),
                        static_cast<int32_t>(to),
                        static_cast<int32_t>(bp),
                        static_cast<int32_t>(reason),
                        value,
                        0};
    bus.publish(step, LifecycleEvent{e, ""});
  }
  void validation(int64_t step, double loss) {
    bus.publish(step, ValidationMeasurement{0, loss, 4});
  }
  // dispatch, decide, dispatch: the commands of this decision.
  std::vector<Command> decide(int64_t step) {
    bus.dispatch();
    commands.clear();
    controller->decide(step, 0);
    bus.dispatch();
    return commands;
  }

  EventBus bus;
  HeuristicPolicy* heuristic = nullptr;
  std::unique_ptr<Controller> controller;
  std::vector<Command> commands;
};

}  // namespace kasmina::control::testing
