// Registration of kasmina's benchmarks with Google Benchmark, for one device. Names are
// "<group>/<what>/<shape>": peak/..., ops/..., morph/..., train_step/....
#pragma once
#include <string>
#include <vector>

#include "core/device.hpp"

namespace kasmina::bench {

void register_engine_op_benchmarks(Device dev);
void register_morph_benchmarks(Device dev);
void register_whole_layer_benchmarks(Device dev);
void register_train_step_benchmarks(Device dev);

// Every benchmark above plus peak/copy and peak/gemm (registered first).
void register_all_benchmarks(Device dev);

// Registered names that Google Benchmark's --benchmark_filter would select: a POSIX extended
// regular expression searched in the name; a leading '-' selects the names that do not match;
// "" and "all" select everything. UserError naming --filter for an invalid expression.
std::vector<std::string> matching_benchmarks(const std::string& filter);

}  // namespace kasmina::bench
