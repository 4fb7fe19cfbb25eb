// `kasmina bench`: runs the benchmarks (Google Benchmark), times a config's model per layer
// (--model), and compares a run with a baseline (the performance-regression gate).
//
// Exit codes: 0 done (no regression), 1 a benchmark regressed against --baseline (or an internal
// failure), 2 a user error (bad option, unreadable file, baseline from another GPU or build).
#pragma once
#include <cstdint>
#include <string>

namespace kasmina::cli {

struct BenchOptions {
  std::string filter;  // Google Benchmark regex ("" = all)
  std::string device;  // "" = cuda when available, else cpu
  int repetitions = 1;
  double min_time = 0.1;           // seconds of measured time per benchmark and repetition
  std::string format = "console";  // stdout: console | json
  std::string out;                 // JSON result file (Google Benchmark's schema)
  bool list = false;               // print the selected benchmark names and exit
  std::string model_config;        // --model: per-layer timing of this config's model
  int64_t batch = 0;               // --model: batch (0 = the config's train.batch_size)
  int iterations = 50;             // --model: timed calls per layer
  std::string baseline;            // compare with this result file
  std::string results;             // compare this result file instead of running
  double threshold_pct = 5.0;
  double alpha = 0.05;
  std::string save_baseline;  // write this run's results here
};

int run_bench(const BenchOptions& o);

}  // namespace kasmina::cli
