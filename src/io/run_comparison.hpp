// What `kasmina inspect runs DIR...` shows: the keys in which the runs' resolved configurations
// (RUN_DIR/config.yaml) differ, and each run's final metrics (RUN_DIR/summary.json), as JSON
// (the --json output, fields in docs/FORMATS.md) and as one text table.
//
// Configurations are compared leaf by leaf (config/config_flatten.hpp) after they are parsed as
// `kasmina train` would, so defaults a run did not write count as written. A key that one run
// lacks differs. A run without summary.json (still running, or stopped before its end) is shown
// with its metrics absent. Bad inputs are UserErrors naming the path: a missing directory, a
// directory without config.yaml, a config.yaml that does not parse, a summary.json that is not
// JSON or holds a metric that is not a number.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kasmina::io {

nlohmann::ordered_json compare_runs(const std::vector<std::string>& run_dirs);

std::string format_run_comparison(const nlohmann::ordered_json& comparison);

}  // namespace kasmina::io
