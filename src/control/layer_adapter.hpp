// Connects the morphogenetic layers to the event bus: commands from the bus become
// KasminaLayer calls (germinate / cancel / cull / rollback / set_eval_score, applied by the layer
// at its next step boundary), and the layers' telemetry and lifecycle events become bus
// messages. Nothing else talks to the layers on the controller's behalf.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "control/event_bus.hpp"
#include "control/growth_driver.hpp"
#include "control/policy.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::control {

class LayerAdapter {
 public:
  // Subscribes to the commands topic. Layers are found by MorphConfig::layer_index.
  LayerAdapter(EventBus& bus, std::vector<morph::KasminaLayer*> layers);
  LayerAdapter(const LayerAdapter&) = delete;
  LayerAdapter& operator=(const LayerAdapter&) = delete;

  // After the step boundary of all layers: a health report for each layer that read its
  // telemetry at this boundary (boundaries() % telemetry_every == 0), from last_telemetry().
  // Returns how many reports were published.
  size_t publish_telemetry(int64_t step);
  // Publishes lifecycle events collected elsewhere (e.g. GrowthDriver::take_events()). Every
  // event that rolls a seed back is followed by an Alert (kind rollback) naming the cause.
  void publish_events(int64_t step, const std::vector<GrowthEvent>& events);
  // Drains every layer (synchronous) and publishes its events; for runs without a GrowthDriver.
  size_t drain_and_publish(int64_t step);

  int64_t commands_applied() const { return applied_; }
  // The static description of the layers a Controller needs (allowed blueprints, blueprint
  // shape, seed count).
  static std::vector<LayerObservation> describe(const std::vector<morph::KasminaLayer*>& layers);

 private:
  void apply(const Message& m);
  void publish_event(int64_t step, const morph::MorphEvent& e, const std::string& note);
  morph::KasminaLayer* find(int32_t layer) const;

  EventBus& bus_;
  std::vector<morph::KasminaLayer*> layers_;
  int64_t applied_ = 0;
};

}  // namespace kasmina::control
