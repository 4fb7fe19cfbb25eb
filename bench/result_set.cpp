#include "bench/result_set.hpp"

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
  } catch (const json::parse_error& e) {
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
    const std::string name = b.value("run_name", b["name"].get<std::string>());
    if (b.value("run_type", std::string("iteration")) != "iteration") continue;
    if (b.contains("error_occurred") && b["error_occurred"].is_boolean() &&
        b["error_occurred"].get<bool>())
      continue;
    if (!b.contains("real_time") || !b["real_time"].is_number())
      throw UserError(source + ": benchmark '" + name + "' has no numeric \"real_time\"");
    const double t = b["real_time"].get<double>() *
                     unit_seconds(b.value("time_unit", std::string("ns")), source, name);
    BenchmarkSamples* s = nullptr;
    for (BenchmarkSamples& e : r.benchmarks)
      if (e.name == name) s = &e;
    if (!s) {
      r.benchmarks.push_back({name, {}});
      s = &r.benchmarks.back();
    }
    s->seconds.push_back(t);
  }
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
