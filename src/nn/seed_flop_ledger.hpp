// The training FLOPs of a kasmina layer's seeds, counted exactly from its lifecycle events: each
// seed's stage and blueprint are mirrored on the host from the events (drained from the device
// ring at the telemetry cadence), and every interval a seed spent in a stage is charged
// morph::seed_step_flops per step. Events carry the step of the boundary that made them: a seed
// moved at the boundary of step v was in its old stage for steps cursor..v and is in the new one
// from v + 1. So the count is exact once the events are drained, whatever the drain cadence;
// between drains the mirror may lag (the open interval is charged at the last known stage).
//
// Checkpoint entries (under the layer's section): flops_stage, flops_blueprint, flops_cursor,
// flops_committed, flops_batch. Seeds placed without events (restore_state in tests, checkpoints
// written before these entries) are counted from their next event.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "core/stateful.hpp"
#include "morph/morph_config.hpp"
#include "morph/morph_events.hpp"

namespace kasmina::morph {

class SeedFlopLedger {
 public:
  static constexpr int64_t kUncounted = std::numeric_limits<int64_t>::min();

  void reset(int32_t seeds, const BlueprintShape& shape);
  // Rows of the training batches (the last training forward's).
  void set_batch(int64_t batch) { batch_ = batch; }
  // Seeds whose stages were set without events: mirrored, counted from their next event.
  void adopt(const std::vector<int32_t>& stages, const std::vector<int32_t>& blueprints);
  // One drained event, in ring order (refusals change nothing).
  void observe(const MorphEvent& e);
  // FLOPs of every training step up to and including the boundary whose step value is
  // `last_boundary_step` (the StepContext step of the last end_step).
  double total(int64_t last_boundary_step) const;

  void save(StateWriter& out) const;
  void load(const StateReader& in);  // absent entries (older checkpoints): nothing counted yet

 private:
  double per_step(int32_t seed) const;

  BlueprintShape shape_;
  int64_t batch_ = 0;
  double committed_ = 0.0;
  std::vector<int32_t> stage_, blueprint_;
  std::vector<int64_t> cursor_;  // first step not yet charged (kUncounted: not counted)
};

}  // namespace kasmina::morph
