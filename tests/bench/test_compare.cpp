// The baseline comparison behind `kasmina bench --baseline`: the Mann–Whitney U test, the
// verdicts on synthetic result sets, the context check and the reading of result files.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench/baseline_compare.hpp"
#include "bench/bench_context.hpp"
#include "bench/mann_whitney.hpp"
#include "bench/result_set.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace kasmina::bench {
namespace {

// n values around `center` seconds with relative noise `rel` (normal), deterministic.
std::vector<double> samples(double center, double rel, size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> v(n);
  for (double& x : v) x = center * (1.0 + rel * rng.normal());
  return v;
}

ResultSet result_set(const std::string& source, std::vector<BenchmarkSamples> b,
                     const std::string& gpu = "NVIDIA H100 80GB HBM3",
                     const std::string& build = "release", const std::string& device = "cuda:0") {
  ResultSet r;
  r.source = source;
  r.context[kCtxDevice] = device;
  r.context[kCtxDeviceName] = gpu;
  r.context[kCtxBuildType] = build;
  r.benchmarks = std::move(b);
  return r;
}

const ComparisonRow& row(const Comparison& c, const std::string& name) {
  for (const ComparisonRow& r : c.rows)
    if (r.name == name) return r;
  throw std::runtime_error("no row " + name);
}

TEST(MannWhitney, ExactSmallSamples) {
  const UTestResult r = mann_whitney_u({1, 2, 3}, {4, 5, 6});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 0.0);
  EXPECT_NEAR(r.p_value, 0.1, 1e-12);  // 2 * 1 / C(6,3)
  const UTestResult r5 = mann_whitney_u({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_NEAR(r5.p_value, 2.0 / 252.0, 1e-12);  // 2 * 1 / C(10,5)
  // Symmetric in the order of the samples.
  EXPECT_NEAR(mann_whitney_u({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5}).p_value, 2.0 / 252.0, 1e-12);
}

TEST(MannWhitney, NormalApproximationWithTies) {
  // Ranks by hand: U = 5, mean 18, tie-corrected variance 3 * (13 - 42/132); continuity 0.5.
  const UTestResult r = mann_whitney_u({1, 2, 2, 3, 4, 5}, {3, 4, 5, 5, 6, 7});
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 5.0);
  EXPECT_NEAR(r.p_value, 0.0427078, 1e-6);
}

TEST(MannWhitney, IdenticalSamplesAreNotDifferent) {
  EXPECT_DOUBLE_EQ(mann_whitney_u({2, 2, 2, 2}, {2, 2, 2, 2}).p_value, 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_u({}, {1, 2}).p_value, 1.0);
}

TEST(Compare, ClearRegressionIsFlagged) {
  const ResultSet base = result_set("base.json", {{"ops/x", samples(1e-3, 0.01, 10, 1)}});
  const ResultSet cur = result_set("cur.json", {{"ops/x", samples(1.3e-3, 0.01, 10, 2)}});
  const Comparison c = compare_results(base, cur, {});
  const ComparisonRow& r = row(c, "ops/x");
  EXPECT_EQ(r.verdict, Verdict::regressed);
  EXPECT_TRUE(r.u_test);
  EXPECT_LT(r.p_value, 1e-3);
  EXPECT_NEAR(r.change_pct, 30.0, 3.0);
  EXPECT_TRUE(c.any_regression());
  EXPECT_NE(format_comparison(c, {}).find("REGRESSED"), std::string::npos);
}

TEST(Compare, ClearImprovementIsNotARegression) {
  const ResultSet base = result_set("base.json", {{"ops/x", samples(1e-3, 0.01, 10, 3)}});
  const ResultSet cur = result_set("cur.json", {{"ops/x", samples(0.6e-3, 0.01, 10, 4)}});
  const Comparison c = compare_results(base, cur, {});
  EXPECT_EQ(row(c, "ops/x").verdict, Verdict::improved);
  EXPECT_NEAR(row(c, "ops/x").change_pct, -40.0, 3.0);
  EXPECT_FALSE(c.any_regression());
}

TEST(Compare, NoiseBeyondTheThresholdIsNotSignificant) {
  // The same values in another order, with the median moved by swapping in two outliers: the
  // median changes by more than the threshold, but the U test sees no shift.
  const std::vector<double> base = {1.00, 1.40, 0.70, 1.20, 0.90, 1.30, 0.80, 1.10};
  const std::vector<double> cur = {1.45, 0.75, 1.25, 0.95, 1.35, 0.85, 1.15, 1.05};
  const Comparison c =
      compare_results(result_set("b", {{"k", base}}), result_set("c", {{"k", cur}}),
                      {.threshold_pct = 2.0, .alpha = 0.05});
  const ComparisonRow& r = row(c, "k");
  EXPECT_GT(r.change_pct, 2.0);
  EXPECT_GT(r.p_value, 0.05);
  EXPECT_EQ(r.verdict, Verdict::noise);
  EXPECT_FALSE(c.any_regression());
}

TEST(Compare, RandomNoiseFromOneDistributionDoesNotRegress) {
  // 20 independent pairs of runs of one distribution (5% noise): none may be a regression at
  // a 5% threshold.
  for (uint64_t seed = 10; seed < 30; ++seed) {
    const ResultSet base = result_set("b", {{"k", samples(1e-3, 0.05, 10, seed)}});
    const ResultSet cur = result_set("c", {{"k", samples(1e-3, 0.05, 10, seed + 100)}});
    const Comparison c = compare_results(base, cur, {});
    EXPECT_NE(row(c, "k").verdict, Verdict::regressed) << "seed " << seed;
  }
}

TEST(Compare, FewRepetitionsUseTheThresholdAlone) {
  const ResultSet base = result_set("b", {{"slow", {1.0e-3}}, {"flat", {1.0e-3, 1.0e-3}}});
  const ResultSet cur = result_set("c", {{"slow", {1.2e-3}}, {"flat", {1.03e-3, 1.01e-3}}});
  const Comparison c = compare_results(base, cur, {.threshold_pct = 5.0});
  EXPECT_EQ(row(c, "slow").verdict, Verdict::regressed);
  EXPECT_FALSE(row(c, "slow").u_test);
  EXPECT_EQ(row(c, "flat").verdict, Verdict::same);
}

TEST(Compare, MissingAndNewBenchmarksAreListedNotFailed) {
  const ResultSet base = result_set("b", {{"kept", {1e-3}}, {"gone", {2e-3}}});
  const ResultSet cur = result_set("c", {{"kept", {1e-3}}, {"fresh", {3e-3}}});
  const Comparison c = compare_results(base, cur, {});
  ASSERT_EQ(c.rows.size(), 3u);
  EXPECT_EQ(row(c, "kept").verdict, Verdict::same);
  EXPECT_EQ(row(c, "gone").verdict, Verdict::missing);
  EXPECT_EQ(row(c, "fresh").verdict, Verdict::added);
  EXPECT_EQ(c.rows.back().name, "fresh");
  EXPECT_FALSE(c.any_regression());
  const std::string table = format_comparison(c, {});
  EXPECT_NE(table.find("missing"), std::string::npos);
  EXPECT_NE(table.find("1 missing, 1 new"), std::string::npos);
}

void expect_refused(const ResultSet& base, const ResultSet& cur,
                    const std::vector<std::string>& parts) {
  try {
    check_compatible(base, cur);
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    const std::string m = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(m.find(p), std::string::npos) << m << " lacks " << p;
  }
}

TEST(Compare, MismatchedContextIsRefused) {
  const ResultSet h100 = result_set("h100.json", {});
  EXPECT_NO_THROW(check_compatible(h100, result_set("run", {})));
  expect_refused(
      h100, result_set("run", {}, "NVIDIA H200"),
      {"h100.json", "on GPU", "NVIDIA H100 80GB HBM3", "NVIDIA H200", "--save-baseline"});
  expect_refused(h100, result_set("run", {}, "NVIDIA H100 80GB HBM3", "debug"),
                 {"build type", "'release'", "'debug'"});
  expect_refused(h100, result_set("run", {}, "Intel Xeon", "release", "cpu"),
                 {"on device", "cuda:0", "cpu"});
  ResultSet foreign = h100;
  foreign.context.erase(kCtxDevice);
  expect_refused(foreign, h100, {"not a kasmina benchmark result"});
}

TEST(ResultFiles, ParsesIterationsAndSkipsAggregates) {
  const std::string json = R"({
    "context": {"kasmina_device": "cpu", "num_cpus": 2, "kasmina_build_type": "release"},
    "benchmarks": [
      {"name": "a/manual_time", "run_name": "a/manual_time", "run_type": "iteration",
       "real_time": 1500.0, "time_unit": "us"},
      {"name": "a/manual_time", "run_name": "a/manual_time", "run_type": "iteration",
       "real_time": 2.5, "time_unit": "ms"},
      {"name": "a/manual_time_mean", "run_name": "a/manual_time", "run_type": "aggregate",
       "aggregate_name": "mean", "real_time": 2000.0, "time_unit": "us"},
      {"name": "b", "run_type": "iteration", "real_time": 40.0, "time_unit": "ns"}
    ]})";
  const ResultSet r = parse_results(json, "r.json");
  EXPECT_EQ(r.context_value("kasmina_device"), "cpu");
  EXPECT_EQ(r.context_value("num_cpus"), "2");
  ASSERT_EQ(r.benchmarks.size(), 2u);
  ASSERT_NE(r.find("a/manual_time"), nullptr);
  const std::vector<double>& a = r.find("a/manual_time")->seconds;
  ASSERT_EQ(a.size(), 2u);
  EXPECT_DOUBLE_EQ(a[0], 1.5e-3);
  EXPECT_DOUBLE_EQ(a[1], 2.5e-3);
  EXPECT_DOUBLE_EQ(r.find("b")->seconds[0], 40e-9);
  EXPECT_DOUBLE_EQ(median({3.0, 1.0, 2.0, 10.0}), 2.5);
}

TEST(ResultFiles, MalformedFilesAreUserErrors) {
  EXPECT_THROW(parse_results("{not json", "x.json"), UserError);
  EXPECT_THROW(parse_results(R"({"context": {}})", "x.json"), UserError);
  EXPECT_THROW(
      parse_results(R"({"benchmarks": [{"name": "a", "real_time": 1, "time_unit": "weeks"}]})",
                    "x.json"),
      UserError);
  EXPECT_THROW(load_results("/nonexistent/dir/baseline.json"), UserError);
}

}  // namespace
}  // namespace kasmina::bench
