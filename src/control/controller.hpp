// The growth controller: a bus client that keeps what it learns from the bus (health reports,
// lifecycle events, validation measurements, alerts) in an Observation, asks its Policy for
// commands at each decision, and publishes them on the commands topic. It never touches a layer.
//
// save() holds everything decide() reads (validation history, per-seed stage, blueprint and last
// telemetry, evaluation scores, the policy's state), so a restored controller decides exactly as
// the saved one would.
//
// Safety rule independent of the policy: a non_finite_loss or loss_spike alert makes the
// controller publish a rollback for every seed it knows to be in GRAFTING, STABILIZATION or
// FINE_TUNING (the host-side path; the device-side path is the loss guard, ops/guard/).
#pragma once
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "control/event_bus.hpp"
#include "control/policy.hpp"
#include "core/stateful.hpp"

namespace kasmina::control {

class Controller final : public Stateful {
 public:
  // `layers`: one entry per morphogenetic layer (LayerAdapter::describe), seeds sized.
  Controller(EventBus& bus, std::unique_ptr<Policy> policy, std::vector<LayerObservation> layers);
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Decision for training step `step` (call after bus.dispatch() at the step boundary):
  // builds the observation, asks the policy and publishes its commands. Returns how many.
  size_t decide(int64_t step, int64_t epoch);

  // The host-side rollback on loss alerts (default on). Turn it off when the layers are
  // connected to the device guard (KasminaLayer::set_loss_alarm), which already rolled them back.
  void set_rollback_on_alert(bool on) { rollback_on_alert_ = on; }
  // The run's training steps (Observation::total_steps: the germination window).
  void set_total_steps(int64_t n) { obs_.total_steps = n; }
  // The width-growing linear layers under the controller (WidthAdapter::describe).
  void set_width_layers(std::vector<WidthObservation> widths) { obs_.widths = std::move(widths); }

  const Observation& observation() const { return obs_; }
  const Policy& policy() const { return *policy_; }
  ControllerState save() const;
  void restore(const ControllerState& state);
  // Checkpoint section "controller/": the entries of save() under that prefix
  // (control/controller_state.cpp).
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

 private:
  void on_health(const HealthReport& h);
  void on_width(const WidthReport& w);
  WidthObservation* width_at(int32_t layer);
  void on_event(const Message& m);
  void apply_event(const morph::MorphEvent& e);
  void on_validation(const ValidationMeasurement& v);
  void on_alert(const Message& m);
  void publish(int64_t step, Command c);
  void recount();  // active_seeds and added_parameters from the seed table
  SeedObservation* seed_at(int32_t layer, int32_t seed);

  EventBus& bus_;
  std::unique_ptr<Policy> policy_;
  Observation obs_;
  std::map<std::pair<int32_t, int32_t>, float> scores_;
  bool rollback_on_alert_ = true;  // last evaluation score per seed
};

}  // namespace kasmina::control
