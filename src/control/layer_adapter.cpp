#include "control/layer_adapter.hpp"

namespace kasmina::control {

LayerAdapter::LayerAdapter(EventBus& bus, std::vector<morph::KasminaLayer*> layers)
    : bus_(bus), layers_(std::move(layers)) {
  bus_.subscribe(Topic::commands, [this](const Message& m) { apply(m); });
}

morph::KasminaLayer* LayerAdapter::find(int32_t layer) const {
  for (morph::KasminaLayer* l : layers_) {
    if (l->config().layer_index == layer) return l;
  }
  return nullptr;
}

void LayerAdapter::apply(const Message& m) {
  const Command& c = std::get<Command>(m.payload);
  if (c.kind == CommandKind::grow_width) return;  // for the width adapter
  morph::KasminaLayer* l = find(c.layer);
  if (l == nullptr) {
    Alert a;
    a.kind = AlertKind::queue_refused;
    a.layer = c.layer;
    a.seed = c.seed;
    a.detail =
        std::string("command ") + command_kind_name(c.kind) + " for a layer index no layer has";
    bus_.publish(m.step, std::move(a));
    return;
  }
  switch (c.kind) {
    case CommandKind::germinate:
      l->germinate(c.seed, c.blueprint);
      break;
    case CommandKind::cancel:
      l->cancel(c.seed);
      break;
    case CommandKind::cull:
      l->cull(c.seed);
      break;
    case CommandKind::rollback:
      l->rollback(c.seed);
      break;
    case CommandKind::set_eval_score:
      l->set_eval_score(c.seed, c.value);
      break;
    case CommandKind::grow_width:
      break;
  }
  ++applied_;
}

size_t LayerAdapter::publish_telemetry(int64_t step) {
  size_t n = 0;
  for (morph::KasminaLayer* l : layers_) {
    if (l->boundaries() == 0 || l->boundaries() % l->config().telemetry_every != 0) continue;
    if (l->last_telemetry().empty()) continue;
    bus_.publish(step, HealthReport{l->config().layer_index, l->last_telemetry()});
    ++n;
  }
  return n;
}

void LayerAdapter::publish_event(int64_t step, const morph::MorphEvent& e,
                                 const std::string& note) {
  bus_.publish(step, LifecycleEvent{e, note});
  const auto reason = static_cast<morph::Reason>(e.reason);
  if (e.to != static_cast<int32_t>(morph::Stage::rolled_back) || e.from == e.to ||
      morph::reason_is_refusal(reason))
    return;
  Alert a;
  a.kind = AlertKind::rollback;
  a.layer = e.layer;
  a.seed = e.seed;
  a.value = e.value;
  a.detail = std::string("seed rolled back to its pre-graft state: ") + morph::reason_name(reason);
  bus_.publish(step, std::move(a));
}

void LayerAdapter::publish_events(int64_t step, const std::vector<GrowthEvent>& events) {
  for (const GrowthEvent& g : events) publish_event(step, g.event, g.note);
}

size_t LayerAdapter::drain_and_publish(int64_t step) {
  size_t n = 0;
  for (morph::KasminaLayer* l : layers_) {
    for (const morph::MorphEvent& e : l->drain_events()) {
      publish_event(step, e, "");
      ++n;
    }
  }
  return n;
}

std::vector<LayerObservation> LayerAdapter::describe(
    const std::vector<morph::KasminaLayer*>& layers) {
  std::vector<LayerObservation> out;
  for (const morph::KasminaLayer* l : layers) {
    const morph::MorphConfig& cfg = l->config();
    LayerObservation o;
    o.layer = cfg.layer_index;
    o.allowed = cfg.allowed_blueprints;
    o.shape = l->blueprint_shape();
    o.seeds.resize(static_cast<size_t>(cfg.seeds));
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace kasmina::control
