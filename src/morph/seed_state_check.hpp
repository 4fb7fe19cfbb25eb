// The checks a seed state from outside the run (a checkpoint) must pass before a layer uses it:
// every field that the kernels use as an index or a code is in its range, so a well-formed but
// hostile file cannot make a kernel read or write out of bounds, and the slot table agrees with the
// seeds (a seed holds a slot exactly when it is not DORMANT, and the slot's owner is that seed).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "morph/morph_config.hpp"
#include "morph/seed_state.hpp"

namespace kasmina::morph {

struct SeedStateProblem {
  std::string field;  // "stage", "slot", ..., or "slot_owner" ("" when there is no problem)
  std::string text;   // "seed 1 is 77 (allowed: 0..10, a stage code)"
  explicit operator bool() const { return !field.empty(); }
};

// The first value of `host` or of the pool's slot table `slot_owner` that a layer configured as
// `cfg` cannot hold (an empty problem when there is none).
SeedStateProblem seed_state_problem(const HostSeedState& host,
                                    const std::vector<int32_t>& slot_owner, const MorphConfig& cfg);

}  // namespace kasmina::morph
