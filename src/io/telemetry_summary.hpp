// What `kasmina inspect telemetry` shows: run summary, best/final of each epoch metric, event
// counts per (from -> to) transition, and seeds per lifecycle stage over time, as JSON (the
// --json output) and as text.
//
// Stage counts over time are replayed from the event table: every seed starts DORMANT and takes
// the `to` stage of each event whose from != to. The number of seeds of a layer is the second
// dimension of /seeds/<layer>/stats, or (for a layer without statistics) the highest seed index
// in its events plus one. The timeline has up to `timeline_rows` evenly spaced sample steps.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "io/telemetry_reader.hpp"

namespace kasmina::io {

nlohmann::ordered_json summarize_telemetry(const std::string& path, const TelemetryData& data,
                                           int timeline_rows = 8);

std::string format_telemetry_summary(const nlohmann::ordered_json& summary);

}  // namespace kasmina::io
