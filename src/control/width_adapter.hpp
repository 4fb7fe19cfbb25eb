// Connects the width-growing linear layers under the controller (linear grow_schedule:
// controller, nn/width_grow_linear.hpp) to the event bus, as LayerAdapter does for the
// morphogenetic layers: each layer's gradient score (nn/width_score.hpp) becomes a WidthReport
// at the telemetry cadence, a grow_width command becomes a width step at once (before the
// training step it was published for: function-preserving, so the step's outputs are those of
// the network before it), and each step becomes a lifecycle event (reason width_grown, layer =
// the layer's config position, seed = the step's index, DORMANT -> FOSSILIZED, value = the
// ratio that triggered it, 0 for a plateau without a fresh measurement) with its numbers.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "control/event_bus.hpp"
#include "control/growth_driver.hpp"
#include "control/policy.hpp"
#include "nn/width_grow_linear.hpp"

namespace kasmina::control {

class WidthAdapter {
 public:
  // `layers`: the controlled ones only. `every`: the report cadence in steps. `sum_over_ranks`
  // adds a vector over the ranks of a data-parallel run (empty: one rank), so every rank reads
  // the same score.
  WidthAdapter(EventBus& bus, std::vector<WidthGrowLinear*> layers, int64_t every,
               std::function<void(std::vector<double>&)> sum_over_ranks);
  WidthAdapter(const WidthAdapter&) = delete;
  WidthAdapter& operator=(const WidthAdapter&) = delete;

  // After the step boundary of training step `step`, before any other forward: a report for
  // every layer with units left when (step + 1) % every == 0. Returns how many.
  size_t publish_reports(int64_t step);
  // The width steps applied since the last call.
  std::vector<GrowthEvent> take_events();

  static std::vector<WidthObservation> describe(const std::vector<WidthGrowLinear*>& layers);

 private:
  void apply(const Message& m);

  EventBus& bus_;
  std::vector<WidthGrowLinear*> layers_;
  int64_t every_ = 1;
  std::function<void(std::vector<double>&)> sum_over_ranks_;
  std::vector<GrowthEvent> events_;
};

}  // namespace kasmina::control
