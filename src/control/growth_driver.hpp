// Collects the lifecycle events the morphogenetic layers drain at their telemetry cadence and
// judges every seed that reaches EVALUATING by its measured effect on the validation loss: the
// per-sample losses with the seed (alpha 1) and without it (alpha 0) on the whole validation
// split, paired, and a gain above `z` standard errors to keep it (control/causal_eval.hpp; the
// test split is never used). The
// decisions to grow come from the controller (src/control/controller.hpp) over the event bus.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "morph/morph_events.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::control {

// A lifecycle event with the numbers of the decision behind it.
struct GrowthEvent {
  morph::MorphEvent event;
  std::string note;  // e.g. "validation loss 0.3120 with the seed, 0.3185 without: +0.0065"
};

class GrowthDriver {
 public:
  // `sample_losses` evaluates the current model on the validation split (each sample's loss, of
  // this rank's share); it is empty when the run has no validation split (seeds in EVALUATING
  // then time out). `sum_over_ranks` adds a vector over the ranks of a data-parallel run (empty:
  // one rank). `z` >= 0: the standard errors a seed's gain must exceed.
  GrowthDriver(std::vector<morph::KasminaLayer*> layers,
               std::function<std::vector<double>()> sample_losses,
               std::function<void(std::vector<double>&)> sum_over_ranks, double z);

  // After the step boundary of all layers: when a layer drained its events at this boundary,
  // collect them and answer seeds that entered EVALUATING.
  void after_step();
  // Drains every layer now (synchronous) and collects the events (end of an epoch or run).
  void flush();
  // Events collected since the last call.
  std::vector<GrowthEvent> take_events();
  bool active() const { return !layers_.empty(); }

 private:
  void collect(morph::KasminaLayer& layer);
  void evaluate_seed(morph::KasminaLayer& layer, int32_t seed);

  std::vector<morph::KasminaLayer*> layers_;
  std::function<std::vector<double>()> sample_losses_;
  std::function<void(std::vector<double>&)> sum_over_ranks_;
  double z_ = 2.0;
  std::vector<GrowthEvent> pending_;
};

// One line describing an event: "step 1200  layer 0 seed 3  TRAINING -> GRAFTING  loss_gate
// 0.0008".
std::string describe_event(const morph::MorphEvent& e);

}  // namespace kasmina::control
