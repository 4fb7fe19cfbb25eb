// What `kasmina inspect checkpoint` shows: a structured summary of a checkpoint (also its
// --json output) and its plain-text rendering.
//
// Tensors are grouped by the name prefix before the last '.' (after the last '/'; names
// without '.' group by the prefix before the last '/'). For each morphogenetic layer with a
// seed-state array `seeds/<layer>/stage`, the lifecycle histogram; with `seeds/<layer>/blueprint`
// also the blueprint ids in use (seeds that are not DORMANT, CULLED, CANCELLED or ROLLED_BACK).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "io/checkpoint.hpp"

namespace kasmina::io {

// The summary as JSON (fields: docs/FORMATS.md, "kasmina inspect --json output"). `verified`: every
// checksum was checked while reading `state`.
nlohmann::ordered_json summarize_checkpoint(const std::string& path, const CheckpointHeader& header,
                                            const CheckpointState& state, bool verified);

// The summary as human-readable text.
std::string format_checkpoint_summary(const nlohmann::ordered_json& summary);

}  // namespace kasmina::io
