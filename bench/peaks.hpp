// The device's attainable peaks, measured in the same run as the other benchmarks: a large
// device-to-device copy (bandwidth) and a large GEMM through the same library as the linear
// layers (cuBLASLt / OpenBLAS, current math mode). The other benchmarks report their
// throughput as a fraction of these (frac_of_peak_bw, frac_of_peak_flops).
#pragma once
#include "core/device.hpp"

namespace kasmina::bench {

struct Peaks {
  double bandwidth = 0.0;  // bytes/s (read + write)
  double flops = 0.0;      // FLOP/s
};

// Best of a few timed repetitions of each (a second or two in all).
Peaks measure_peaks(Device dev);

// Registers peak/copy and peak/gemm as benchmarks of their own.
void register_peak_benchmarks(Device dev);

}  // namespace kasmina::bench
