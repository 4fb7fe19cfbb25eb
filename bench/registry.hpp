// Registration of kasmina's benchmarks with Google Benchmark, for one device. Names are
// "<group>/<what>/<shape>": peak/..., ops/..., morph/..., train_step/....
#pragma once
#include <string>
#include <vector>

#include "core/device.hpp"

namespace kasmina::bench {

void register_engine_op_benchmarks(Device dev);
void register_conv_op_benchmarks(Device dev);
void register_morph_benchmarks(Device dev);
void register_whole_layer_benchmarks(Device dev);
void register_train_step_benchmarks(Device dev);
void register_network_step_benchmarks(Device dev);

// Every benchmark above plus peak/copy and peak/gemm (registered first).
void register_all_benchmarks(Device dev);

// Registered names that `filter` selects: a POSIX extended regular expression searched in the
// name as `--list` prints it; a leading '-' selects the names that do not match; "" and "all"
// select everything. UserError naming --filter for an invalid expression.
std::vector<std::string> matching_benchmarks(const std::string& filter);

// The --benchmark_filter for Google Benchmark that selects exactly `names` (registered names,
// which Google Benchmark runs as "<name>/manual_time", or "<name>/iterations:N/manual_time" with
// a fixed count of iterations): "all" when they are every registered name, else an alternation
// of the escaped names. A run then runs what --list showed for the same filter, an anchored one
// ("...B128$") included.
std::string exact_filter(const std::vector<std::string>& names);

}  // namespace kasmina::bench
