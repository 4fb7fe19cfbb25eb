#include "bench/result_set.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"

namespace kasmina::bench {

namespace {

double unit_seconds(const std::string& unit, const std::string& source, const std::string& name) {
  if (unit == "ns") return 1e-9;
  if (unit == "us") return 1e-6;
  if (unit == "ms") return 1e-3;
  if (unit == "s") return 1.0;
  throw UserError(source + ": benchmark '" + name + "': unknown time_unit '" + unit +
                  "' (allowed: ns, us, ms, s)");
}

// The string field `key` of a benchmark entry, or `fallback` when absent.
std::string string_field(const nlohmann::json& b, const char* key, const std::string& fallback,
                         const std::string& source, const std::string& name) {
  if (!b.contains(key)) return fallback;
  if (!b[key].is_string())
    throw UserError(source + ": benchmark '" + name + "': \"" + key + "\" is not a string");
  return b[key].get<std::string>();
}

}  // namespace

const BenchmarkSamples* ResultSet::find(const std::string& name) const {
  for (const BenchmarkSamples& b : benchmarks)
    if (b.name == name) return &b;
  return nullptr;
}

std::string ResultSet::context_value(const std::string& key) const {
  const auto it = context.find(key);
  return it == context.end() ? std::string() : it->second;
}

ResultSet parse_results(const std::string& json_text, const std::string& source) {
  using nlohmann::json;
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {  // parse errors, and numbers beyond a double
    throw UserError(source + ": not valid JSON (" + e.what() + ")");
  }
  if (!doc.is_object() || !doc.contains("benchmarks") || !doc["benchmarks"].is_array())
    throw UserError(source + ": not a Google Benchmark JSON result (no \"benchmarks\" array)");
  ResultSet r;
  r.source = source;
  if (doc.contains("context") && doc["context"].is_object()) {
    for (const auto& [key, value] : doc["context"].items()) {
      if (value.is_string())
        r.context[key] = value.get<std::string>();
      else if (value.is_number() || value.is_boolean())
        r.context[key] = value.dump();
    }
  }
  for (const json& b : doc["benchmarks"]) {
    if (!b.is_object() || !b.contains("name") || !b["name"].is_string())
      throw UserError(source + ": a benchmark entry has no \"name\"");
    const std::string name = string_field(b, "run_name", b["name"].get<std::string>(), source,
                                          b["name"].get<std::string>());
    if (string_field(b, "run_type", "iteration", source, name) != "iteration") continue;
    if (b.contains("error_occurred") && b["error_occurred"].is_boolean() &&
        b["error_occurred"].get<bool>())
      continue;
    if (!b.contains("real_time") || !b["real_time"].is_number())
      throw UserError(source + ": benchmark '" + name + "' has no numeric \"real_time\"");
    if (!b.contains("time_unit"))
      throw UserError(source + ": benchmark '" + name + "' has no \"time_unit\"");
    const double t = b["real_time"].get<double>() *
                     unit_seconds(string_field(b, "time_unit", "", source, name), source, name);
    // A time that is not positive would make every comparison with it pass.
    if (!(t > 0.0) || !std::isfinite(t))
      throw UserError(source + ": benchmark '" + name + "': real_time " + b["real_time"].dump() +
                      " is not a positive time");
    BenchmarkSamples* s = nullptr;
    for (BenchmarkSamples& e : r.benchmarks)
      if (e.name == name) s = &e;
    if (!s) {
      r.benchmarks.push_back({name, {}});
      s = &r.benchmarks.back();
    }
    s->seconds.push_back(t);
  }
  if (r.benchmarks.empty())
    throw UserError(source + ": holds no benchmark results (no successful \"iteration\" run)");
  return r;
}

ResultSet load_results(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot read the benchmark result file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_results(text.str(), path);
}

}  // namespace kasmina::bench
