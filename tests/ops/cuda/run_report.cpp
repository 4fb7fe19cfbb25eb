// Prints, around the whole CUDA-vs-CPU run, the device it ran on and how the linear ops'
// epilogues executed (cuBLASLt epilogues vs kasmina's own kernels), so one log tells all.
#include <gtest/gtest.h>

#include <cstdio>

#include "kasmina_build_config.hpp"
#include "ops/ops.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/gemm_options.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

class CudaRunReport : public ::testing::Environment {
 public:
  void SetUp() override {
    ops::init();
    if (!ops::cuda_available()) return;
    for (const ops::CudaDeviceInfo& d : ops::list_cuda_devices()) {
      std::printf("[ cuda     ] cuda:%d %s (sm_%d%d, %d SMs, %.1f GiB, driver %s, runtime %s)\n",
                  d.index, d.name.c_str(), d.cc_major, d.cc_minor, d.multiprocessors,
                  static_cast<double>(d.total_bytes) / (1024.0 * 1024.0 * 1024.0),
                  d.driver_version.c_str(), d.runtime_version.c_str());
    }
  }
  void TearDown() override {
#if KASMINA_HAS_CUDA
    if (!ops::cuda_available()) return;
    const ops::cuda::GemmEpilogueStats s = ops::cuda::gemm_epilogue_stats(Device::cuda(0));
    std::printf(
        "[ cuda     ] linear epilogues on cuda:0: %lld via cuBLASLt, %lld via own kernels "
        "(cuBLASLt had no algorithm), %lld via own kernels (forced by the unfused cases)\n",
        static_cast<long long>(s.fused), static_cast<long long>(s.unavailable),
        static_cast<long long>(s.forced));
#endif
  }
};

[[maybe_unused]] ::testing::Environment* const g_report =
    ::testing::AddGlobalTestEnvironment(new CudaRunReport);

}  // namespace
}  // namespace kasmina::cuda_test
