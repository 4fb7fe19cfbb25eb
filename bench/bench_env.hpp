// What every benchmark of one `kasmina bench` run shares: the device, and the peaks measured at
// the start of the run that the frac_of_peak_* counters are relative to.
#pragma once
#include "core/device.hpp"

namespace kasmina::bench {

struct BenchEnv {
  Device device = Device::cpu();
  double peak_bandwidth = 0.0;  // bytes/s of a large device-to-device copy (read + write)
  double peak_flops = 0.0;      // FLOP/s of a large GEMM in the current math mode
};

// The process-wide environment (set by the bench command before the benchmarks run).
BenchEnv& bench_env();

}  // namespace kasmina::bench
