#include "io/run_comparison.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "config/config.hpp"
#include "config/config_flatten.hpp"
#include "core/error.hpp"
#include "io/summary_text.hpp"

namespace kasmina::io {

namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

// The final metrics of a run: summary.json key, label in the text table, printf format of a
// real value ("" for an integer count).
struct Metric {
  const char* key;
  const char* label;
  const char* spec;
};
constexpr Metric kMetrics[] = {
    {"test_accuracy", "test accuracy", "%.4f"},
    {"test_loss", "test loss", "%.4f"},
    {"parameters", "parameters", "%.0f"},
    {"parameters_added", "grown parameters", "%.0f"},
    {"train_seconds", "training time (s)", "%.2f"},
    {"train_flops", "training FLOPs", "%.4g"},
};

// The contents of `path`, or nothing when it does not exist. UserError when it cannot be read.
std::optional<std::string> read_optional_text(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) return std::nullopt;
  if (!fs::is_regular_file(status)) throw UserError(path.string() + ": not a regular file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    throw UserError(path.string() +
                    ": cannot read: " + (errno != 0 ? std::strerror(errno) : "open failed"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UserError(path.string() + ": cannot read: I/O error");
  return text;
}

// A plain YAML scalar as the JSON value it reads as (integer, real, boolean, null); a quoted
// scalar, or one that reads as none of these, stays a string.
json scalar_json(const ConfigEntry& e) {
  const std::string& v = e.value;
  if (e.quoted) return v;
  if (v == "[]") return json::array();
  if (v == "{}") return json::object();
  if (v == "true") return true;
  if (v == "false") return false;
  if (v == "null" || v == "~") return nullptr;
  int64_t i = 0;
  const char* end = v.data() + v.size();
  if (auto [p, ec] = std::from_chars(v.data(), end, i); ec == std::errc() && p == end) return i;
  if (!v.empty()) {
    char* stop = nullptr;
    const double d = std::strtod(v.c_str(), &stop);
    if (stop == v.c_str() + v.size() && std::isfinite(d)) return d;
  }
  return v;
}

json read_run(const std::string& dir) {
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (!fs::exists(status)) throw UserError(dir + ": no such directory");
  if (!fs::is_directory(status))
    throw UserError(dir + ": not a directory (expected a run directory)");
  const fs::path config_path = fs::path(dir) / "config.yaml";
  const std::optional<std::string> yaml = read_optional_text(config_path);
  if (!yaml) throw UserError(dir + ": not a run directory (no config.yaml)");
  const Config cfg = parse_config(*yaml, config_path.string());

  json run;
  run["dir"] = dir;
  run["config_name"] = cfg.name;
  json config = json::object();
  for (const ConfigEntry& e : flatten_config(cfg)) config[e.key] = scalar_json(e);
  run["config"] = config;

  const fs::path summary_path = fs::path(dir) / "summary.json";
  const std::optional<std::string> text = read_optional_text(summary_path);
  json metrics = json::object();
  if (!text) {
    run["status"] = "incomplete";
    for (const Metric& m : kMetrics) metrics[m.key] = nullptr;
    run["metrics"] = metrics;
    return run;
  }
  json summary;
  try {
    summary = json::parse(*text);
  } catch (const json::parse_error& e) {
    throw UserError(summary_path.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (!summary.is_object()) throw UserError(summary_path.string() + ": not a JSON object");
  const auto interrupted = summary.find("interrupted");
  run["status"] =
      interrupted != summary.end() && interrupted->is_boolean() && interrupted->get<bool>()
          ? "interrupted"
          : "finished";
  for (const Metric& m : kMetrics) {
    const auto it = summary.find(m.key);
    if (it == summary.end() || it->is_null()) {
      metrics[m.key] = nullptr;
      continue;
    }
    if (!it->is_number())
      throw UserError(summary_path.string() + ": '" + m.key + "' is not a number (got " +
                      it->dump() + ")");
    metrics[m.key] = *it;
  }
  run["metrics"] = metrics;
  return run;
}

// A configuration value as table text ("-" for a key the run lacks).
std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
  }
  return v.dump();
}

}  // namespace

json compare_runs(const std::vector<std::string>& run_dirs) {
  if (run_dirs.empty()) throw UserError("inspect runs: at least one run directory is required");
  json runs = json::array();
  for (const std::string& dir : run_dirs) runs.push_back(read_run(dir));

  // Every run's keys merged in order: a key only a later run has goes after the key that
  // precedes it in that run. A key differs when some run lacks it or holds another value.
  std::vector<std::string> keys;
  for (const auto& r : runs) {
    size_t at = 0;
    for (const auto& [k, v] : r["config"].items()) {
      const auto it = std::find(keys.begin(), keys.end(), k);
      if (it == keys.end()) {
        keys.insert(keys.begin() + static_cast<std::ptrdiff_t>(at), k);
        ++at;
      } else {
        at = static_cast<size_t>(it - keys.begin()) + 1;
      }
    }
  }
  json differing = json::array();
  for (const std::string& k : keys) {
    bool same = true;
    for (const auto& r : runs)
      same = same && r["config"].contains(k) && r["config"][k] == runs[0]["config"][k];
    if (!same) differing.push_back(k);
  }
  for (auto& r : runs) {
    json only = json::object();
    for (const auto& k : differing) {
      const auto it = r["config"].find(k.get<std::string>());
      only[k.get<std::string>()] = it == r["config"].end() ? json(nullptr) : *it;
    }
    r["config"] = only;
  }
  json j;
  j["differing_keys"] = differing;
  j["runs"] = runs;
  return j;
}

std::string format_run_comparison(const json& j) {
  const json& runs = j["runs"];
  const size_t n = runs.size();
  std::ostringstream o;
  o << "runs\n";
  for (size_t i = 0; i < n; ++i)
    o << "  [" << i + 1 << "] " << runs[i]["dir"].get<std::string>() << "  ("
      << runs[i]["config_name"].get<std::string>() << ", " << runs[i]["status"].get<std::string>()
      << ")\n";

  // Rows: a label and one cell per run; a row without cells is a section title.
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  rows.push_back({"", {}});
  for (size_t i = 0; i < n; ++i) {
    char number[32];
    std::snprintf(number, sizeof number, "[%zu]", i + 1);
    rows.back().second.push_back(number);
  }
  if (j["differing_keys"].empty()) {
    rows.push_back({n > 1 ? "configuration: identical" : "configuration: one run", {}});
  } else {
    rows.push_back({"configuration (keys that differ)", {}});
    for (const auto& k : j["differing_keys"]) {
      std::vector<std::string> cells;
      for (const auto& r : runs) {
        const json& v = r["config"][k.get<std::string>()];
        cells.push_back(v.is_null() ? "-" : value_text(v));
      }
      rows.push_back({"  " + k.get<std::string>(), cells});
    }
  }
  rows.push_back({"final metrics", {}});
  for (const Metric& m : kMetrics) {
    std::vector<std::string> cells;
    for (const auto& r : runs) cells.push_back(summary_number(r["metrics"][m.key], m.spec));
    rows.push_back({std::string("  ") + m.label, cells});
  }

  size_t label_width = 0;
  std::vector<size_t> widths(n, 0);
  for (const auto& [label, cells] : rows) {
    if (cells.empty()) continue;
    label_width = std::max(label_width, label.size());
    for (size_t i = 0; i < n; ++i) widths[i] = std::max(widths[i], cells[i].size());
  }
  o << "\n";
  for (const auto& [label, cells] : rows) {
    std::string line = label;
    if (!cells.empty()) {
      line.resize(label_width, ' ');
      for (size_t i = 0; i < n; ++i) {
        line += std::string(2 + widths[i] - cells[i].size(), ' ') + cells[i];  // right-aligned
      }
    }
    o << line << "\n";
  }
  return o.str();
}

}  // namespace kasmina::io
