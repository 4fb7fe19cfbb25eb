#include "io/telemetry_summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "io/seed_stage_names.hpp"
#include "io/summary_text.hpp"

namespace kasmina::io {

namespace {

using json = nlohmann::ordered_json;

constexpr const char* kEpochMetrics[] = {
    "train_loss", "train_accuracy", "validation_loss", "validation_accuracy",
    "test_loss",  "test_accuracy",  "seconds"};

// A NaN-aware JSON number (NaN -> null).
json number(double v) {
  return std::isnan(v) ? json(nullptr) : json(v);
}

json metric_summary(const std::vector<EpochRecord>& epochs, double EpochRecord::*field,
                    bool higher_is_better) {
  json j = {{"best", nullptr}, {"best_epoch", nullptr}, {"final", nullptr}};
  bool any = false;
  double best = 0;
  for (const auto& e : epochs) {
    const double v = e.*field;
    if (std::isnan(v)) continue;
    if (!any || (higher_is_better ? v > best : v < best)) {
      best = v;
      j["best"] = v;
      j["best_epoch"] = e.epoch;
    }
    any = true;
  }
  if (!epochs.empty()) j["final"] = number(epochs.back().*field);
  return j;
}

json stage_timeline(const std::string& layer, int64_t num_seeds,
                    const std::vector<LifecycleEvent>& events, int64_t first_step,
                    int64_t last_step, int rows) {
  std::vector<const LifecycleEvent*> mine;
  for (const auto& e : events)
    if (e.layer == layer) mine.push_back(&e);
  std::stable_sort(mine.begin(), mine.end(), [](const LifecycleEvent* a, const LifecycleEvent* b) {
    return a->step < b->step;
  });
  std::vector<int64_t> samples;
  if (last_step <= first_step || rows <= 1) {
    samples.push_back(last_step);
  } else {
    for (int r = 0; r < rows; ++r)
      samples.push_back(first_step + (last_step - first_step) * r / (rows - 1));
    samples.erase(std::unique(samples.begin(), samples.end()), samples.end());
  }
  std::map<int64_t, int32_t> stage_of;  // seeds that left DORMANT at some point
  size_t next = 0;
  json timeline = json::array();
  for (int64_t at : samples) {
    for (; next < mine.size() && mine[next]->step <= at; ++next)
      if (mine[next]->from != mine[next]->to) stage_of[mine[next]->seed] = mine[next]->to;
    std::map<int32_t, int64_t> counts;
    int64_t not_dormant = 0;
    for (const auto& [seed, stage] : stage_of) {
      if (stage == 0) continue;
      ++counts[stage];
      ++not_dormant;
    }
    counts[0] = num_seeds - not_dormant;
    json c = json::object();
    for (const auto& [stage, n] : counts)
      if (n != 0 || stage == 0) c[seed_stage_name(stage)] = n;
    timeline.push_back({{"step", at}, {"counts", c}});
  }
  return timeline;
}

}  // namespace

json summarize_telemetry(const std::string& path, const TelemetryData& d, int timeline_rows) {
  json j = summary_identity(path, "kasmina-telemetry", d.schema_version, d.kasmina_version);
  j["config_name"] = d.config_name;
  j["device"] = d.device;
  j["start_time"] = d.start_time;

  json steps = {{"count", static_cast<int64_t>(d.steps.size())}};
  if (!d.steps.empty()) {
    steps["first"] = d.steps.front().step;
    steps["last"] = d.steps.back().step;
    steps["final_loss"] = number(d.steps.back().loss);
    steps["final_lr"] = number(d.steps.back().lr);
    double sum = 0;
    int64_t n = 0;
    for (const auto& s : d.steps)
      if (!std::isnan(s.samples_per_second)) sum += s.samples_per_second, ++n;
    steps["mean_samples_per_second"] = n ? json(sum / static_cast<double>(n)) : json(nullptr);
  }
  j["steps"] = steps;
  j["epochs"] = static_cast<int64_t>(d.epochs.size());

  const struct {
    const char* name;
    double EpochRecord::*field;
    bool higher_is_better;
  } metrics[] = {{"train_loss", &EpochRecord::train_loss, false},
                 {"train_accuracy", &EpochRecord::train_accuracy, true},
                 {"validation_loss", &EpochRecord::validation_loss, false},
                 {"validation_accuracy", &EpochRecord::validation_accuracy, true},
                 {"test_loss", &EpochRecord::test_loss, false},
                 {"test_accuracy", &EpochRecord::test_accuracy, true},
                 {"seconds", &EpochRecord::seconds, false}};
  json em = json::object();
  for (const auto& m : metrics) em[m.name] = metric_summary(d.epochs, m.field, m.higher_is_better);
  j["epoch_metrics"] = em;

  std::map<std::pair<int32_t, int32_t>, int64_t> transitions;
  for (const auto& e : d.events) ++transitions[{e.from, e.to}];
  json t = json::array();
  for (const auto& [ft, n] : transitions)
    t.push_back({{"from", seed_stage_name(ft.first)},
                 {"to", seed_stage_name(ft.second)},
                 {"count", n},
                 {"refused", ft.first == ft.second}});
  j["events"] = {{"total", static_cast<int64_t>(d.events.size())}, {"transitions", t}};

  std::map<std::string, int64_t> topics;
  for (const auto& m : d.messages) ++topics[m.topic];
  j["messages"] = {{"total", static_cast<int64_t>(d.messages.size())}, {"topics", topics}};
  // The kernels the IR blueprints got (kernel events: key, level that served it, time, tuning).
  json kernels = json::array();
  for (const auto& m : d.messages)
    if (m.kind == "kernel") kernels.push_back(m.payload);
  j["kernels"] = kernels;

  // Layers: those with statistics, plus those only seen in events.
  std::map<std::string, int64_t> seeds_of;
  std::map<std::string, const SeedLayerTelemetry*> stats_of;
  for (const auto& l : d.seed_layers) {
    seeds_of[l.name] = l.num_seeds;
    stats_of[l.name] = &l;
  }
  for (const auto& e : d.events)
    if (!stats_of.contains(e.layer)) seeds_of[e.layer] = std::max(seeds_of[e.layer], e.seed + 1);
  int64_t first = 0, last = 0;
  bool any_step = false;
  const auto see = [&](int64_t s) {
    first = any_step ? std::min(first, s) : s;
    last = any_step ? std::max(last, s) : s;
    any_step = true;
  };
  for (const auto& s : d.steps) see(s.step);
  for (const auto& e : d.events) see(e.step);
  for (const auto& l : d.seed_layers)
    for (int64_t s : l.steps) see(s);
  json layers = json::array();
  for (const auto& [name, seeds] : seeds_of) {
    json l = {{"layer", name}, {"seeds", seeds}};
    if (auto it = stats_of.find(name); it != stats_of.end()) {
      l["fields"] = it->second->fields;
      l["snapshots"] = static_cast<int64_t>(it->second->steps.size());
    }
    l["stage_timeline"] = stage_timeline(name, seeds, d.events, first, last, timeline_rows);
    layers.push_back(l);
  }
  j["seed_layers"] = layers;
  return j;
}

std::string format_telemetry_summary(const json& j) {
  std::ostringstream o;
  char line[256];
  o << summary_head("telemetry", j);
  o << "device      " << j["device"].get<std::string>() << "\n";
  o << "started     " << j["start_time"].get<std::string>() << "\n";
  const json& s = j["steps"];
  o << "steps       " << s["count"].get<int64_t>();
  if (s["count"].get<int64_t>() > 0)
    o << " (step " << s["first"].get<int64_t>() << " .. " << s["last"].get<int64_t>()
      << "), final loss " << summary_number(s["final_loss"]) << ", final lr "
      << summary_number(s["final_lr"]) << ", mean "
      << summary_number(s["mean_samples_per_second"], "%.0f") << " samples/s";
  o << "\nepochs      " << j["epochs"].get<int64_t>() << "\n";

  if (j["epochs"].get<int64_t>() > 0) {
    std::snprintf(line, sizeof line, "\n  %-22s %12s %8s %12s\n", "epoch metric", "best", "epoch",
                  "final");
    o << line;
    for (const char* name : kEpochMetrics) {
      const json& m = j["epoch_metrics"][name];
      std::snprintf(line, sizeof line, "  %-22s %12s %8s %12s\n", name,
                    summary_number(m["best"]).c_str(), summary_number(m["best_epoch"]).c_str(),
                    summary_number(m["final"]).c_str());
      o << line;
    }
  }

  o << "\nlifecycle events: " << j["events"]["total"].get<int64_t>() << "\n";
  for (const auto& t : j["events"]["transitions"]) {
    const std::string pair = t["from"].get<std::string>() + " -> " + t["to"].get<std::string>() +
                             (t["refused"].get<bool>() ? " (refused)" : "");
    std::snprintf(line, sizeof line, "  %-40s %8lld\n", pair.c_str(),
                  static_cast<long long>(t["count"].get<int64_t>()));
    o << line;
  }
  o << "bus messages: " << j["messages"]["total"].get<int64_t>() << "\n";
  for (const auto& [topic, n] : j["messages"]["topics"].items()) {
    std::snprintf(line, sizeof line, "  %-40s %8lld\n", topic.c_str(),
                  static_cast<long long>(n.get<int64_t>()));
    o << line;
  }

  if (!j["kernels"].empty()) {
    o << "IR kernels: " << j["kernels"].size() << "\n";
    for (const auto& k : j["kernels"]) o << "  " << k.get<std::string>() << "\n";
  }

  for (const auto& l : j["seed_layers"]) {
    o << "\nseeds per stage over time: " << l["layer"].get<std::string>() << " ("
      << l["seeds"].get<int64_t>() << " seeds";
    if (l.contains("snapshots"))
      o << ", " << l["snapshots"].get<int64_t>() << " statistics snapshots";
    o << ")\n";
    // columns: every stage that appears anywhere in the timeline, in lifecycle order
    std::set<int64_t> codes;
    for (const auto& row : l["stage_timeline"])
      for (const auto& [stage, n] : row["counts"].items())
        if (const int64_t c = seed_stage_code(stage); c >= 0) codes.insert(c);
    std::snprintf(line, sizeof line, "  %-10s", "step");
    std::string header = line;
    for (int64_t c : codes) {
      std::snprintf(line, sizeof line, " %13s", seed_stage_name(c).c_str());
      header += line;
    }
    o << header << "\n";
    for (const auto& row : l["stage_timeline"]) {
      std::snprintf(line, sizeof line, "  %-10lld",
                    static_cast<long long>(row["step"].get<int64_t>()));
      std::string text = line;
      for (int64_t c : codes) {
        const auto& counts = row["counts"];
        const std::string name = seed_stage_name(c);
        std::snprintf(
            line, sizeof line, " %13lld",
            static_cast<long long>(counts.contains(name) ? counts[name].get<int64_t>() : 0));
        text += line;
      }
      o << text << "\n";
    }
  }
  return o.str();
}

}  // namespace kasmina::io
