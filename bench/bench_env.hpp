// What every benchmark of one `kasmina bench` run shares: the device, and the peaks measured at
// the start of the run that the frac_of_peak_* counters are relative to (bench/peaks.hpp).
#pragma once
#include "core/device.hpp"

namespace kasmina::bench {

struct BenchEnv {
  Device device = Device::cpu();
  double peak_bandwidth = 0.0;   // bytes/s of a large device-to-device copy (read + write)
  double peak_flops = 0.0;       // FLOP/s of a large GEMM in the math mode the run starts in
  double peak_flops_tf32 = 0.0;  // the same GEMM on TF32 tensor cores (0: not measured)
  double peak_flops_bf16 = 0.0;  // the same GEMM on bf16 operands, fp32 sums (0: not measured)
};

// The process-wide environment (set by the bench command before the benchmarks run).
BenchEnv& bench_env();

}  // namespace kasmina::bench
