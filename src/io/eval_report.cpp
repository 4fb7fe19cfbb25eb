#include "io/eval_report.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace kasmina::io {

namespace {

using json = nlohmann::ordered_json;

std::string format_line(const char* spec, auto... values) {
  char buf[256];
  std::snprintf(buf, sizeof buf, spec, values...);
  return buf;
}

}  // namespace

json eval_report_json(const EvalReportInput& in) {
  json j = {{"checkpoint", in.checkpoint},
            {"config_name", in.config_name},
            {"step", in.step},
            {"epoch", in.epoch},
            {"split", in.split},
            {"device", in.device},
            {"data", in.data},
            {"samples", in.result.samples},
            {"loss", in.result.loss},
            {"accuracy", in.result.accuracy}};
  const ConfusionMatrix& m = in.confusion;
  json classes = json::array();
  json matrix = json::array();
  for (int64_t t = 0; t < m.classes; ++t) {
    int64_t samples = 0;
    json row = json::array();
    for (int64_t p = 0; p < m.classes; ++p) {
      samples += m.at(t, p);
      row.push_back(m.at(t, p));
    }
    const auto name = static_cast<size_t>(t) < in.class_names.size()
                          ? in.class_names[static_cast<size_t>(t)]
                          : std::to_string(t);
    classes.push_back({{"class", t},
                       {"name", name},
                       {"samples", samples},
                       {"correct", m.at(t, t)},
                       {"accuracy", samples > 0 ? json(static_cast<double>(m.at(t, t)) /
                                                       static_cast<double>(samples))
                                                : json(nullptr)}});
    matrix.push_back(row);
  }
  j["classes"] = classes;
  j["confusion_matrix"] = matrix;  // rows: true class, columns: predicted class
  return j;
}

std::string format_eval_report(const json& j) {
  std::ostringstream o;
  o << "checkpoint  " << j["checkpoint"].get<std::string>() << " (step " << j["step"].get<int64_t>()
    << ", epoch " << j["epoch"].get<int64_t>() << ")\n";
  o << "config      " << j["config_name"].get<std::string>() << "\n";
  o << "data        " << j["data"].get<std::string>() << "\n";
  o << "split       " << j["split"].get<std::string>() << ", " << j["samples"].get<int64_t>()
    << " samples, on " << j["device"].get<std::string>() << "\n";
  o << format_line("loss        %.6f\n", j["loss"].get<double>());
  int64_t correct = 0;
  for (const auto& c : j["classes"]) correct += c["correct"].get<int64_t>();
  o << format_line("accuracy    %.4f (%lld of %lld)\n", j["accuracy"].get<double>(),
                   static_cast<long long>(correct),
                   static_cast<long long>(j["samples"].get<int64_t>()));

  size_t name_width = 5;
  for (const auto& c : j["classes"])
    name_width = std::max(name_width, c["name"].get<std::string>().size());
  const int w = static_cast<int>(name_width);
  o << "\nper class\n"
    << format_line("  %5s  %-*s %8s %8s %9s\n", "class", w, "name", "samples", "correct",
                   "accuracy");
  for (const auto& c : j["classes"]) {
    const std::string acc =
        c["accuracy"].is_null() ? "-" : format_line("%.4f", c["accuracy"].get<double>());
    o << format_line(
        "  %5lld  %-*s %8lld %8lld %9s\n", static_cast<long long>(c["class"].get<int64_t>()), w,
        c["name"].get<std::string>().c_str(), static_cast<long long>(c["samples"].get<int64_t>()),
        static_cast<long long>(c["correct"].get<int64_t>()), acc.c_str());
  }

  const json& matrix = j["confusion_matrix"];
  int64_t widest = 1;
  for (const auto& row : matrix)
    for (const auto& v : row) widest = std::max(widest, v.get<int64_t>());
  const size_t cw = std::max<size_t>(3, std::to_string(widest).size());
  const auto cell = [cw](int64_t v) {
    const std::string s = std::to_string(v);
    return std::string(1 + cw - s.size(), ' ') + s;
  };
  o << "\nconfusion matrix (rows: true class, columns: predicted class)\n" << std::string(8, ' ');
  for (size_t p = 0; p < matrix.size(); ++p) o << cell(static_cast<int64_t>(p));
  o << "\n";
  for (size_t t = 0; t < matrix.size(); ++t) {
    o << format_line("  %5zu ", t);
    for (const auto& v : matrix[t]) o << cell(v.get<int64_t>());
    o << "\n";
  }
  return o.str();
}

}  // namespace kasmina::io
