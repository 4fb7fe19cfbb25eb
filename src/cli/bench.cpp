#include "cli/bench.hpp"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/baseline_compare.hpp"
#include "bench/bench_context.hpp"
#include "bench/bench_env.hpp"
#include "bench/model_timing.hpp"
#include "bench/peaks.hpp"
#include "bench/registry.hpp"
#include "bench/result_set.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "config/limits.hpp"
#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "ops/ops.hpp"
#include "train/precision.hpp"

namespace kasmina::cli {

namespace {

namespace fs = std::filesystem;

// Counts above these would only exhaust memory or time (each repetition keeps its results).
constexpr int kMaxRepetitions = 1000;
constexpr int kMaxIterations = 1'000'000;

void check_count(const char* option, int64_t value, int64_t min, int64_t max) {
  if (value < min)
    throw UserError(std::string(option) + ": must be at least " + std::to_string(min) + ", got " +
                    std::to_string(value));
  if (value > max)
    throw UserError(std::string(option) + ": must be at most " + std::to_string(max) + ", got " +
                    std::to_string(value));
}

void validate(const BenchOptions& o) {
  check_count("--repetitions", o.repetitions, 1, kMaxRepetitions);
  check_count("--iterations", o.iterations, 1, kMaxIterations);
  check_count("--batch", o.batch, 0, config_limits::kMaxBatch);
  if (!(o.min_time > 0.0)) throw UserError("--min-time: must be a positive number of seconds");
  if (o.format != "console" && o.format != "json")
    throw UserError("--format: '" + o.format + "' is not allowed (allowed: console, json)");
  if (!(o.threshold_pct >= 0.0)) throw UserError("--threshold: must be a percentage >= 0");
  if (!(o.alpha > 0.0 && o.alpha < 1.0)) throw UserError("--alpha: must be in (0, 1)");
  if (!o.results.empty() && o.baseline.empty())
    throw UserError("--results: needs --baseline FILE to compare with");
  if (!o.model_config.empty() &&
      (!o.baseline.empty() || !o.save_baseline.empty() || !o.out.empty()))
    throw UserError(
        "--model: prints a per-layer table; it cannot be combined with --baseline, "
        "--save-baseline or --out");
}

Device choose_device(const std::string& name) {
  if (!name.empty()) return Device::parse(name);
  return ops::cuda_available() ? Device::cuda(0) : Device::cpu();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw InternalError("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `text` to `path` with the project's atomic writer (io/atomic_file.hpp: a complete
// file or none, the directory created when missing); its failure is the user's (exit 2).
void write_results(const std::string& path, const std::string& text) {
  try {
    io::write_file_atomically(path, text);
  } catch (const IoError& e) {
    throw UserError(e.what());
  }
}

// Runs the selected benchmarks; returns the JSON text of the results.
std::string run_benchmarks(const BenchOptions& o, Device dev) {
  bench::bench_env().device = dev;
  bench::register_all_benchmarks(dev);
  const std::vector<std::string> selected = bench::matching_benchmarks(o.filter);
  if (selected.empty())
    throw UserError("--filter: '" + o.filter +
                    "' matches no benchmark (kasmina bench --list "
                    "shows them)");
  const bench::Peaks peaks = bench::measure_peaks(dev, bench::peak_needs(selected));
  bench::bench_env().peak_bandwidth = peaks.bandwidth;
  bench::bench_env().peak_flops = peaks.flops;
  bench::bench_env().peak_flops_tf32 = peaks.flops_tf32;
  bench::bench_env().peak_flops_bf16 = peaks.flops_bf16;
  for (const auto& [key, value] : bench::run_context(dev)) benchmark::AddCustomContext(key, value);
  benchmark::AddCustomContext(bench::kCtxPeakBandwidth, std::to_string(peaks.bandwidth));
  benchmark::AddCustomContext(bench::kCtxPeakFlops, std::to_string(peaks.flops));
  if (peaks.flops_tf32 > 0.0)
    benchmark::AddCustomContext(bench::kCtxPeakFlopsTf32, std::to_string(peaks.flops_tf32));
  if (peaks.flops_bf16 > 0.0)
    benchmark::AddCustomContext(bench::kCtxPeakFlopsBf16, std::to_string(peaks.flops_bf16));

  // The JSON always goes to a private file first; it is copied to --out / --save-baseline once
  // the run is complete.
  const fs::path json_path =
      fs::temp_directory_path() / ("kasmina-bench-" + std::to_string(::getpid()) + ".json");
  std::vector<std::string> args = {
      "kasmina bench",
      "--benchmark_filter=" + bench::exact_filter(selected),
      "--benchmark_repetitions=" + std::to_string(o.repetitions),
      "--benchmark_min_time=" + std::to_string(o.min_time),
      "--benchmark_format=" + o.format,
      "--benchmark_out=" + json_path.string(),
      "--benchmark_out_format=json",
      "--benchmark_counters_tabular=true",
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::string text = fs::exists(json_path) ? read_file(json_path) : std::string();
  fs::remove(json_path);
  KASMINA_CHECK(ran > 0 && !text.empty(), "the benchmark run produced no results");
  return text;
}

int compare_with_baseline(const BenchOptions& o, const bench::ResultSet& current) {
  const bench::ResultSet baseline = bench::load_results(o.baseline);
  bench::check_compatible(baseline, current);
  bench::CompareOptions co;
  co.threshold_pct = o.threshold_pct;
  co.alpha = o.alpha;
  const bench::Comparison c = bench::compare_results(baseline, current, co);
  // With JSON on stdout, the table goes to stderr so that stdout stays one JSON document.
  std::FILE* table = o.format == "json" && o.results.empty() ? stderr : stdout;
  std::fprintf(table, "\ncomparison with baseline %s\n%s", o.baseline.c_str(),
               bench::format_comparison(c, co).c_str());
  std::fflush(table);
  return c.any_regression() ? 1 : 0;
}

int run_model_timing(const BenchOptions& o, Device dev) {
  const Config cfg = load_config(o.model_config);
  const int64_t batch = o.batch > 0 ? o.batch : cfg.train.batch_size;
  ops::set_math_mode(dev, math_mode_of(cfg.train.precision));
  const bench::ModelTiming t = bench::time_model(cfg, dev, batch, o.iterations);
  std::printf("model of %s\n%s", o.model_config.c_str(), bench::format_model_timing(t).c_str());
  return 0;
}

}  // namespace

int run_bench(const BenchOptions& o) {
  validate(o);
  if (!o.results.empty()) {
    const bench::ResultSet current = bench::load_results(o.results);
    return compare_with_baseline(o, current);
  }
  ops::init();
  const Device dev = choose_device(o.device);
  if (o.list) {
    bench::register_all_benchmarks(dev);
    for (const std::string& name : bench::matching_benchmarks(o.filter))
      std::printf("%s\n", name.c_str());
    return 0;
  }
  ops::use_device(dev);
  if (!o.model_config.empty()) return run_model_timing(o, dev);
  // The baseline first: a missing, corrupt or foreign file is refused before minutes of
  // running, and nothing is written.
  if (!o.baseline.empty()) {
    bench::ResultSet here;  // the context this run will have (no source: "this run")
    for (const auto& [key, value] : bench::run_context(dev)) here.context[key] = value;
    bench::check_compatible(bench::load_results(o.baseline), here);
  }

  const std::string json = run_benchmarks(o, dev);
  if (!o.out.empty()) write_results(o.out, json);
  if (!o.save_baseline.empty()) {
    write_results(o.save_baseline, json);
    std::fprintf(o.format == "json" ? stderr : stdout, "baseline written to %s\n",
                 o.save_baseline.c_str());
  }
  if (o.baseline.empty()) return 0;
  return compare_with_baseline(o, bench::parse_results(json, "this run"));
}

void add_bench_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Run the benchmarks (Google Benchmark), time a model per layer, or compare with a baseline");
  cmd->add_option("--filter", o->filter, "Regular expression selecting benchmarks (default: all)");
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N (default: cuda when available)");
  cmd->add_option("--repetitions", o->repetitions,
                  "Repetitions of each benchmark (default 1, at most 1000)");
  cmd->add_option("--min-time", o->min_time,
                  "Measured seconds per benchmark and repetition (default 0.1)");
  cmd->add_option("--format", o->format, "Output on stdout: console | json (default console)");
  cmd->add_option("--out", o->out,
                  "Also write the results as JSON (Google Benchmark's schema) to FILE");
  cmd->add_flag("--list", o->list, "List the benchmarks the filter selects, run nothing");
  cmd->add_option("--model", o->model_config,
                  "Time each layer of this config's model (forward, backward)");
  cmd->add_option("--batch", o->batch,
                  "--model: batch size (default: the config's train.batch_size; at most 65536)");
  cmd->add_option("--iterations", o->iterations,
                  "--model: timed calls per layer (default 50, at most 1000000)");
  cmd->add_option("--baseline", o->baseline,
                  "Compare with this result file; exit 1 when a benchmark regressed");
  cmd->add_option("--results", o->results,
                  "With --baseline: compare this result file instead of running");
  cmd->add_option("--threshold", o->threshold_pct,
                  "Median change in percent that counts (default 5)");
  cmd->add_option("--alpha", o->alpha,
                  "Significance level of the Mann-Whitney U test (default 0.05)");
  cmd->add_option("--save-baseline", o->save_baseline,
                  "Write this run's results to FILE as a baseline");
  cmd->callback([o, &exit_code] { exit_code = run_bench(*o); });
}

}  // namespace kasmina::cli
