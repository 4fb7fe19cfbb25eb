// The device's attainable peaks, measured in the same run as the other benchmarks: a large
// device-to-device copy (bandwidth) and a large GEMM through the same library as the linear
// layers (cuBLASLt / OpenBLAS), once per math: fp32 (the mode the run starts in), TF32 tensor
// cores and bf16 tensor cores (bf16 operands, fp32 accumulation and output, as the linear
// layers run under `train.precision: bf16`). The other benchmarks report their throughput as a
// fraction of these (frac_of_peak_bw, frac_of_peak_flops against the peak of their math).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/device.hpp"
#include "ops/ops.hpp"

namespace kasmina::bench {

struct Peaks {
  double bandwidth = 0.0;   // bytes/s (read + write)
  double flops = 0.0;       // FLOP/s, fp32 (the math mode the run starts in)
  double flops_tf32 = 0.0;  // FLOP/s, TF32 tensor cores (0: not measured)
  double flops_bf16 = 0.0;  // FLOP/s, bf16 tensor cores (0: not measured)
};

// Which of the reduced-precision GEMM peaks to measure besides the copy and the fp32 GEMM.
struct PeakNeeds {
  bool tf32 = false;
  bool bf16 = false;
};

// Best of a few timed repetitions of each (a second or two in all). On the CPU, TF32 is fp32
// (the CPU ignores the mode), so its peak is the fp32 one.
Peaks measure_peaks(Device dev, PeakNeeds needs = {});

// The needs of the benchmarks named: a name with a "/tf32" or "/bf16" part (or a peak/gemm_tf32,
// peak/gemm_bf16 benchmark) needs that peak.
PeakNeeds peak_needs(const std::vector<std::string>& benchmark_names);

// The measured peak of math `m` (0 when it was not measured).
double peak_flops_of(const Peaks& p, ops::MathMode m);

// Registers peak/copy, peak/gemm, peak/gemm_tf32 and peak/gemm_bf16 as benchmarks of their own.
void register_peak_benchmarks(Device dev);

// Registers peak/copy/SHAPE: the driver's copy of `floats` float32 values, timed as the other
// benchmarks are (the morph benchmarks register one for each of their layers' activations).
void register_copy_benchmark(const std::string& shape, int64_t floats, Device dev);

}  // namespace kasmina::bench
