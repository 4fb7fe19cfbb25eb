#include "control/width_adapter.hpp"

#include <cstdio>

#include "morph/stage.hpp"

namespace kasmina::control {

WidthAdapter::WidthAdapter(EventBus& bus, std::vector<WidthGrowLinear*> layers, int64_t every,
                           std::function<void(std::vector<double>&)> sum_over_ranks)
    : bus_(bus),
      layers_(std::move(layers)),
      every_(every > 0 ? every : 1),
      sum_over_ranks_(std::move(sum_over_ranks)) {
  bus_.subscribe(Topic::commands, [this](const Message& m) { apply(m); });
}

std::vector<WidthObservation> WidthAdapter::describe(const std::vector<WidthGrowLinear*>& layers) {
  std::vector<WidthObservation> out;
  for (const WidthGrowLinear* l : layers) {
    out.push_back({.layer = static_cast<int32_t>(l->position()),
                   .width = l->out_width(),
                   .chunk = l->chunk(),
                   .active = l->active_width(),
                   .steps_done = l->steps_done(),
                   .steps_total = l->steps_total(),
                   .report = {}});
  }
  return out;
}

size_t WidthAdapter::publish_reports(int64_t step) {
  if ((step + 1) % every_ != 0) return 0;
  size_t n = 0;
  for (const WidthGrowLinear* l : layers_) {
    if (l->active_width() + l->chunk() > l->out_width()) continue;
    const WidthScore s = l->measure_score();
    // {new, active, measured}: summed over ranks, so every rank decides on the same means.
    std::vector<double> sums = {s.valid ? s.new_units : 0.0, s.valid ? s.active_units : 0.0,
                                s.valid ? 1.0 : 0.0};
    if (sum_over_ranks_) sum_over_ranks_(sums);
    if (!(sums[2] > 0.0) || !(sums[1] > 0.0)) continue;
    const double new_units = sums[0] / sums[2], active_units = sums[1] / sums[2];
    bus_.publish(step, WidthReport{.layer = static_cast<int32_t>(l->position()),
                                   .active = l->active_width(),
                                   .width = l->out_width(),
                                   .steps_done = l->steps_done(),
                                   .steps_total = l->steps_total(),
                                   .new_units = new_units,
                                   .active_units = active_units,
                                   .ratio = new_units / active_units});
    ++n;
  }
  return n;
}

void WidthAdapter::apply(const Message& m) {
  const Command& c = std::get<Command>(m.payload);
  if (c.kind != CommandKind::grow_width) return;
  WidthGrowLinear* layer = nullptr;
  for (WidthGrowLinear* l : layers_)
    if (static_cast<int32_t>(l->position()) == c.layer) layer = l;
  const int64_t before = layer ? layer->active_width() : 0;
  if (layer == nullptr || !layer->grow_step(m.step)) {
    Alert a;
    a.kind = AlertKind::queue_refused;
    a.layer = c.layer;
    a.detail = layer ? "grow_width: every unit of the layer is active"
                     : "grow_width for a config position no width-growing layer has";
    bus_.publish(m.step, std::move(a));
    return;
  }
  morph::MorphEvent e{};
  e.step = m.step;
  e.layer = c.layer;
  e.seed = static_cast<int32_t>(layer->steps_done() - 1);
  e.from = static_cast<int32_t>(morph::Stage::dormant);
  e.to = static_cast<int32_t>(morph::Stage::fossilized);
  e.blueprint = -1;
  e.reason = static_cast<int32_t>(morph::Reason::width_grown);
  e.value = c.value;
  char note[160];
  std::snprintf(note, sizeof note,
                "width %ld -> %ld of %ld (step %ld of %ld): ", static_cast<long>(before),
                static_cast<long>(layer->active_width()), static_cast<long>(layer->out_width()),
                static_cast<long>(layer->steps_done()), static_cast<long>(layer->steps_total()));
  GrowthEvent g{e, note + c.reason};
  bus_.publish(m.step, LifecycleEvent{g.event, g.note});
  events_.push_back(std::move(g));
}

std::vector<GrowthEvent> WidthAdapter::take_events() {
  std::vector<GrowthEvent> out;
  out.swap(events_);
  return out;
}

}  // namespace kasmina::control
