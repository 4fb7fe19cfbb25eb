// Switches of the CUDA GEMM path for tests and benchmarks (plain C++, no CUDA headers).
#pragma once
#include <cstdint>

#include "core/device.hpp"

namespace kasmina::ops::cuda {

// With fused epilogues off, every linear op runs a plain cuBLASLt GEMM followed by kasmina's
// own bias/activation/bias-gradient kernels (the path taken when cuBLASLt lacks an epilogue),
// so that path can be tested on hardware where the epilogues exist. Default: on.
void set_fused_epilogues(Device dev, bool on);
bool fused_epilogues(Device dev);

// With own GELU epilogues on, a linear op whose cuBLASLt epilogue would be GELU or DGELU runs the
// plain GEMM and kasmina's kernels instead (the fallback path of fused epilogues off, for GELU
// only). Default: off, or KASMINA_OWN_GELU_EPILOGUES=1 in the environment when the device is
// first used.
void set_own_gelu_epilogues(Device dev, bool on);
bool own_gelu_epilogues(Device dev);

// How the linear ops' epilogues ran on a device so far.
struct GemmEpilogueStats {
  int64_t fused = 0;        // cuBLASLt epilogue used
  int64_t unavailable = 0;  // cuBLASLt had no algorithm: own kernels used
  int64_t forced = 0;       // fused epilogues switched off: own kernels used
};
GemmEpilogueStats gemm_epilogue_stats(Device dev);

}  // namespace kasmina::ops::cuda
