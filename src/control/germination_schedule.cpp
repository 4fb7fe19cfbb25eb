#include "control/germination_schedule.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "nn/morph_from_config.hpp"

namespace kasmina::morph {

GerminationSchedule::GerminationSchedule(std::vector<ScheduledGermination> entries)
    : entries_(std::move(entries)) {
  std::stable_sort(
      entries_.begin(), entries_.end(),
      [](const ScheduledGermination& a, const ScheduledGermination& b) { return a.step < b.step; });
}

int32_t GerminationSchedule::apply(int64_t step, const std::vector<KasminaLayer*>& layers) const {
  auto first =
      std::lower_bound(entries_.begin(), entries_.end(), step,
                       [](const ScheduledGermination& e, int64_t s) { return e.step < s; });
  int32_t queued = 0;
  for (auto it = first; it != entries_.end() && it->step == step; ++it) {
    auto layer = std::find_if(layers.begin(), layers.end(), [&](KasminaLayer* l) {
      return l->config().layer_index == it->layer;
    });
    if (layer == layers.end())
      throw UserError("germination schedule: step " + std::to_string(it->step) + " names layer " +
                      std::to_string(it->layer) +
                      ", but the model has no kasmina layer with that index");
    (*layer)->germinate(it->seed, it->blueprint);
    ++queued;
  }
  return queued;
}

GerminationSchedule schedule_from(const std::vector<GerminationConfig>& entries) {
  std::vector<ScheduledGermination> out;
  for (const GerminationConfig& g : entries) {
    out.push_back({g.step, static_cast<int32_t>(g.layer), static_cast<int32_t>(g.seed),
                   blueprint_of(g.blueprint)});
  }
  return GerminationSchedule(std::move(out));
}

}  // namespace kasmina::morph
