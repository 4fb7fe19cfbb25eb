// Collects the lifecycle events the morphogenetic layers drain at their telemetry cadence and
// judges every seed that reaches EVALUATING by its measured effect on the validation loss: the
// per-sample losses with the seed (alpha 1) and without it (alpha 0) on the whole validation
// split, paired, and a gain above `z` standard errors to keep it (control/causal_eval.hpp; the
// test split is never used). The
// decisions to grow come from the controller (src/control/controller.hpp) over the event bus.
//
// Pre-germination comparison (issue 15, item 6): when a germination is collected, the
// per-sample validation losses of the network without the seed (alpha 0: the network as it was
// before the seed, trained up to the drain) are kept; at EVALUATING the losses with the seed are
// also paired with them. A seed whose removal hurts (kept by the paired test) but whose gain over
// the pre-germination network does not exceed `z` standard errors is flagged — not culled: the
// host came to depend on it without the network getting better than before it. The numbers go
// into the event's note, and GrowthEvent::flagged is set. The kept losses are this rank's share
// and are not checkpointed (ranks hold different shares, and a checkpoint is rank 0's): a seed
// germinated before a resume is judged without the comparison (its note says so). The flag
// changes no decision, so a resumed run stays bit-exact.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "morph/morph_events.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::control {

// A lifecycle event with the numbers of the decision behind it.
struct GrowthEvent {
  morph::MorphEvent event;
  std::string note;      // e.g. "validation loss 0.3120 with the seed, 0.3185 without: +0.0065"
  bool flagged = false;  // removal hurts, but no gain over the pre-germination network
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
  // Seeds flagged so far (this run segment).
  int64_t flagged() const { return flagged_; }
  // The kept pre-germination losses, by (layer index, seed).
  const std::map<std::pair<int32_t, int32_t>, std::vector<double>>& pregermination() const {
    return pre_;
  }

 private:
  void collect(morph::KasminaLayer& layer);
  void evaluate_seed(morph::KasminaLayer& layer, int32_t seed);
  void keep_pregermination(morph::KasminaLayer& layer, int32_t seed);
  // The pre-germination comparison of a seed in EVALUATING: appended to `note`; true = flag.
  bool compare_pregermination(int32_t layer, int32_t seed, const std::vector<double>& with_seed,
                              bool kept, std::string& note);

  std::vector<morph::KasminaLayer*> layers_;
  std::function<std::vector<double>()> sample_losses_;
  std::function<void(std::vector<double>&)> sum_over_ranks_;
  double z_ = 2.0;
  std::vector<GrowthEvent> pending_;
  std::map<std::pair<int32_t, int32_t>, std::vector<double>> pre_;
  int64_t flagged_ = 0;
};

// One line describing an event: "step 1200  layer 0 seed 3  TRAINING -> GRAFTING  loss_gate
// 0.0008".
std::string describe_event(const morph::MorphEvent& e);

}  // namespace kasmina::control
