// The values of a checkpoint that can be judged without the model it belongs to (for `kasmina
// inspect`; a resume checks everything against the model it restores into): in each complete
// seed state of a morphogenetic layer (seeds/<layer>/<field> and slot_owner, of the dtypes and
// sizes a run writes), every code and index is in its range (morph/seed_state_check.hpp),
// blueprints being any registered kind.
#pragma once
#include <string>

#include "io/checkpoint.hpp"

namespace kasmina::io {

// Throws UserError "PATH: tensor 'seeds/kasmina0/stage': seed 1 is 77 (allowed: 0..10, a stage
// code)" for the first value out of range.
void check_checkpoint_values(const std::string& path, const CheckpointState& state);

}  // namespace kasmina::io
