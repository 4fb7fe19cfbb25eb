#include "bench/baseline_compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/bench_context.hpp"
#include "bench/mann_whitney.hpp"
#include "core/enum_table.hpp"
#include "core/error.hpp"

namespace kasmina::bench {

constexpr EnumTable<Verdict, 6> kVerdictNames{{
    {"same", Verdict::same},
    {"noise", Verdict::noise},
    {"REGRESSED", Verdict::regressed},
    {"improved", Verdict::improved},
    {"missing", Verdict::missing},
    {"new", Verdict::added},
}};

const char* verdict_name(Verdict v) {
  return enum_name(kVerdictNames, v);
}

bool Comparison::any_regression() const {
  return count(Verdict::regressed) > 0;
}

size_t Comparison::count(Verdict v) const {
  return static_cast<size_t>(std::count_if(rows.begin(), rows.end(),
                                           [v](const ComparisonRow& r) { return r.verdict == v; }));
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

void check_compatible(const ResultSet& baseline, const ResultSet& current) {
  for (const char* key : {kCtxDevice, kCtxDeviceName, kCtxBuildType}) {
    if (baseline.context_value(key).empty())
      throw UserError(baseline.source + ": not a kasmina benchmark result (context has no '" +
                      std::string(key) + "'); make a baseline with kasmina bench --save-baseline");
  }
  const std::string bdev = baseline.context_value(kCtxDevice);
  const std::string cdev = current.context_value(kCtxDevice);
  auto refuse = [&](const std::string& what, const std::string& b, const std::string& c) {
    throw UserError("baseline " + baseline.source + " was measured " + what + " '" + b +
                    "', this run" + (current.source.empty() ? "" : " (" + current.source + ")") +
                    " " + what + " '" + c +
                    "'; a baseline only applies to the same device and build type: make one "
                    "here with kasmina bench --save-baseline FILE");
  };
  if (device_kind(bdev) != device_kind(cdev)) refuse("on device", bdev, cdev);
  const std::string bname = baseline.context_value(kCtxDeviceName);
  const std::string cname = current.context_value(kCtxDeviceName);
  if (bname != cname) refuse(device_kind(cdev) == "cuda" ? "on GPU" : "on CPU", bname, cname);
  const std::string bbuild = baseline.context_value(kCtxBuildType);
  const std::string cbuild = current.context_value(kCtxBuildType);
  if (bbuild != cbuild) refuse("with build type", bbuild, cbuild);
}

Comparison compare_results(const ResultSet& baseline, const ResultSet& current,
                           const CompareOptions& options) {
  Comparison c;
  for (const BenchmarkSamples& b : baseline.benchmarks) {
    ComparisonRow row;
    row.name = b.name;
    row.baseline_n = b.seconds.size();
    row.baseline_median = median(b.seconds);
    const BenchmarkSamples* cur = current.find(b.name);
    if (!cur || cur->seconds.empty()) {
      row.verdict = Verdict::missing;
      c.rows.push_back(row);
      continue;
    }
    row.current_n = cur->seconds.size();
    row.current_median = median(cur->seconds);
    row.change_pct = row.baseline_median > 0.0
                         ? (row.current_median - row.baseline_median) / row.baseline_median * 100.0
                         : 0.0;
    row.u_test = row.baseline_n >= kMinUTestRepetitions && row.current_n >= kMinUTestRepetitions;
    bool significant = true;
    if (row.u_test) {
      row.p_value = mann_whitney_u(b.seconds, cur->seconds).p_value;
      significant = row.p_value < options.alpha;
    }
    if (std::abs(row.change_pct) <= options.threshold_pct)
      row.verdict = Verdict::same;
    else if (!significant)
      row.verdict = Verdict::noise;
    else
      row.verdict = row.change_pct > 0.0 ? Verdict::regressed : Verdict::improved;
    c.rows.push_back(row);
  }
  for (const BenchmarkSamples& cur : current.benchmarks) {
    if (baseline.find(cur.name)) continue;
    ComparisonRow row;
    row.name = cur.name;
    row.verdict = Verdict::added;
    row.current_n = cur.seconds.size();
    row.current_median = median(cur.seconds);
    c.rows.push_back(row);
  }
  return c;
}

namespace {

std::string format_time(double seconds) {
  char buf[32];
  if (seconds <= 0.0)
    std::snprintf(buf, sizeof buf, "-");
  else if (seconds < 1e-3)
    std::snprintf(buf, sizeof buf, "%.2f us", seconds * 1e6);
  else if (seconds < 1.0)
    std::snprintf(buf, sizeof buf, "%.3f ms", seconds * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.3f s", seconds);
  return buf;
}

}  // namespace

std::string format_comparison(const Comparison& c, const CompareOptions& options) {
  size_t width = 9;
  for (const ComparisonRow& r : c.rows) width = std::max(width, r.name.size());
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s  %12s  %12s  %8s  %7s  %5s  %s\n", static_cast<int>(width),
                "benchmark", "baseline", "current", "change", "p", "n", "verdict");
  out += line;
  for (const ComparisonRow& r : c.rows) {
    char change[16] = "-", p[16] = "-", n[16];
    if (r.verdict != Verdict::missing && r.verdict != Verdict::added)
      std::snprintf(change, sizeof change, "%+.1f%%", r.change_pct);
    if (r.u_test) std::snprintf(p, sizeof p, "%.4f", r.p_value);
    std::snprintf(n, sizeof n, "%zu/%zu", r.baseline_n, r.current_n);
    std::snprintf(line, sizeof line, "%-*s  %12s  %12s  %8s  %7s  %5s  %s\n",
                  static_cast<int>(width), r.name.c_str(), format_time(r.baseline_median).c_str(),
                  format_time(r.current_median).c_str(), change, p, n, verdict_name(r.verdict));
    out += line;
  }
  std::snprintf(line, sizeof line,
                "threshold %.1f%%, U test alpha %.2f (needs >= %zu repetitions per side): %zu "
                "regressed, %zu improved, %zu same, %zu noise, %zu missing, %zu new\n",
                options.threshold_pct, options.alpha, kMinUTestRepetitions,
                c.count(Verdict::regressed), c.count(Verdict::improved), c.count(Verdict::same),
                c.count(Verdict::noise), c.count(Verdict::missing), c.count(Verdict::added));
  out += line;
  return out;
}

}  // namespace kasmina::bench
