#include "io/checkpoint_summary.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "io/checksum.hpp"
#include "io/seed_stage_names.hpp"
#include "io/summary_text.hpp"

namespace kasmina::io {

namespace {

using json = nlohmann::ordered_json;

std::string group_of(const std::string& name) {
  const size_t slash = name.rfind('/');
  const size_t dot = name.rfind('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return name.substr(0, dot);
  if (slash != std::string::npos) return name.substr(0, slash);
  return name;
}

// Integer values of an integer tensor (any integer dtype), as int64.
std::vector<int64_t> integer_values(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t.dtype()) {
      case DType::u8:
        v[i] = static_cast<const uint8_t*>(t.raw())[i];
        break;
      case DType::i32:
        v[i] = static_cast<const int32_t*>(t.raw())[i];
        break;
      case DType::i64:
        v[i] = static_cast<const int64_t*>(t.raw())[i];
        break;
      default:
        return {};
    }
  }
  return v;
}

bool holds_blueprint(int64_t stage) {
  return stage != 0 && stage != 8 && stage != 9 && stage != 10;  // DORMANT, CULLED, ...
}

json seed_layer_summary(const std::string& layer, const Tensor& stage, const Tensor* blueprint) {
  json j;
  j["layer"] = layer;
  const auto stages = integer_values(stage);
  j["seeds"] = static_cast<int64_t>(stages.size());
  std::map<int64_t, int64_t> counts;
  for (int64_t s : stages) ++counts[s];
  json hist = json::array();
  for (const auto& [code, n] : counts)
    hist.push_back({{"stage", seed_stage_name(code)}, {"code", code}, {"count", n}});
  j["stages"] = hist;
  if (blueprint) {
    const auto ids = integer_values(*blueprint);
    std::map<int64_t, int64_t> used;
    for (size_t i = 0; i < ids.size() && i < stages.size(); ++i)
      if (holds_blueprint(stages[i])) ++used[ids[i]];
    json b = json::array();
    for (const auto& [id, n] : used) b.push_back({{"blueprint", id}, {"seeds", n}});
    j["blueprints_in_use"] = b;
  }
  return j;
}

std::string shape_text(const json& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i].get<int64_t>());
  return s + "]";
}

}  // namespace

json summarize_checkpoint(const std::string& path, const CheckpointHeader& header,
                          const CheckpointState& state, bool verified) {
  json j =
      summary_identity(path, "kasmina-checkpoint", header.schema_version, header.kasmina_version);
  j["created"] = header.created;
  j["config_name"] = state.config_name;
  j["step"] = state.step;
  j["epoch"] = state.epoch;
  j["epoch_position"] = state.epoch_position;
  j["verified"] = verified;

  json groups = json::array();
  std::map<std::string, size_t> group_index;
  int64_t total = 0;
  for (const auto& t : state.tensors) {
    const std::string g = group_of(t.name);
    auto [it, added] = group_index.emplace(g, groups.size());
    if (added) groups.push_back({{"name", g}, {"elements", 0}, {"tensors", json::array()}});
    json& group = groups[it->second];
    const int64_t n = t.tensor.numel();
    group["elements"] = group["elements"].get<int64_t>() + n;
    group["tensors"].push_back({{"name", t.name},
                                {"dtype", dtype_name(t.tensor.dtype())},
                                {"shape", t.tensor.shape()},
                                {"elements", n},
                                {"crc32", crc32_update(0, t.tensor.raw(), t.tensor.nbytes())}});
    total += n;
  }
  j["tensor_groups"] = groups;
  j["total_elements"] = total;

  json layers = json::array();
  for (const auto& t : state.tensors) {
    constexpr const char* kPrefix = "seeds/";
    constexpr const char* kSuffix = "/stage";
    const std::string& n = t.name;
    if (n.rfind(kPrefix, 0) != 0 || n.size() <= std::strlen(kPrefix) + std::strlen(kSuffix) ||
        n.compare(n.size() - std::strlen(kSuffix), std::string::npos, kSuffix) != 0)
      continue;
    const std::string layer =
        n.substr(std::strlen(kPrefix), n.size() - std::strlen(kPrefix) - std::strlen(kSuffix));
    if (integer_values(t.tensor).size() != static_cast<size_t>(t.tensor.numel())) continue;
    layers.push_back(
        seed_layer_summary(layer, t.tensor, state.find_tensor("seeds/" + layer + "/blueprint")));
  }
  j["seed_layers"] = layers;
  j["metrics"] = state.metrics;
  j["ints"] = state.ints;
  j["floats"] = state.floats;
  j["strings"] = state.strings;
  return j;
}

std::string format_checkpoint_summary(const json& j) {
  std::ostringstream o;
  char line[256];
  o << summary_head("checkpoint", j, " at " + j["created"].get<std::string>());
  o << "position    step " << j["step"].get<int64_t>() << ", epoch " << j["epoch"].get<int64_t>()
    << ", " << j["epoch_position"].get<int64_t>() << " samples into the epoch\n";
  o << "checksums   "
    << (j["verified"].get<bool>() ? "verified (every dataset matches its crc32)"
                                  : "not checked (use --verify)")
    << "\n";

  o << "\ntensors\n";
  std::snprintf(line, sizeof line, "  %-44s %-9s %-18s %12s\n", "name", "dtype", "shape",
                "elements");
  o << line;
  for (const auto& g : j["tensor_groups"]) {
    const auto& tensors = g["tensors"];
    if (tensors.size() == 1 && tensors[0]["name"] == g["name"]) {  // a group of its own
      const auto& t = tensors[0];
      std::snprintf(line, sizeof line, "  %-44s %-9s %-18s %12lld\n",
                    t["name"].get<std::string>().c_str(), t["dtype"].get<std::string>().c_str(),
                    shape_text(t["shape"]).c_str(),
                    static_cast<long long>(t["elements"].get<int64_t>()));
      o << line;
      continue;
    }
    std::snprintf(line, sizeof line, "  %-44s %-9s %-18s %12lld\n",
                  g["name"].get<std::string>().c_str(), "", "",
                  static_cast<long long>(g["elements"].get<int64_t>()));
    o << line;
    for (const auto& t : tensors) {
      std::snprintf(line, sizeof line, "    %-42s %-9s %-18s %12lld\n",
                    t["name"].get<std::string>().c_str(), t["dtype"].get<std::string>().c_str(),
                    shape_text(t["shape"]).c_str(),
                    static_cast<long long>(t["elements"].get<int64_t>()));
      o << line;
    }
  }
  std::snprintf(line, sizeof line, "  %-44s %-9s %-18s %12lld\n", "total", "", "",
                static_cast<long long>(j["total_elements"].get<int64_t>()));
  o << line;

  if (!j["seed_layers"].empty()) {
    o << "\nseeds\n";
    for (const auto& l : j["seed_layers"]) {
      o << "  " << l["layer"].get<std::string>() << ": " << l["seeds"].get<int64_t>()
        << " seeds\n    stages:";
      for (const auto& s : l["stages"])
        o << " " << s["stage"].get<std::string>() << " " << s["count"].get<int64_t>();
      o << "\n";
      if (l.contains("blueprints_in_use")) {
        o << "    blueprints in use:";
        if (l["blueprints_in_use"].empty()) o << " none";
        for (const auto& b : l["blueprints_in_use"])
          o << " #" << b["blueprint"].get<int64_t>() << " (" << b["seeds"].get<int64_t>()
            << " seeds)";
        o << "\n";
      }
    }
  }

  const auto print_map = [&](const char* title, const json& m) {
    if (m.empty()) return;
    o << "\n" << title << "\n";
    for (const auto& [k, v] : m.items()) {
      std::snprintf(line, sizeof line, "  %-32s %s\n", k.c_str(),
                    v.is_string() ? v.get<std::string>().c_str() : summary_number(v).c_str());
      o << line;
    }
  };
  print_map("metrics at save time", j["metrics"]);
  print_map("integers", j["ints"]);
  print_map("reals", j["floats"]);
  print_map("strings", j["strings"]);
  return o.str();
}

}  // namespace kasmina::io
