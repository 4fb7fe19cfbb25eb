// Shared helpers for all CUDA code of kasmina (launchers in src/ops/cuda/, kernels in kernels/):
// error checking of runtime calls and kernel launches, and the per-device compute stream on
// which every op and copy is ordered.
#pragma once
#include <cuda_runtime.h>

#include "core/device.hpp"
#include "core/error.hpp"

namespace kasmina::ops::cuda {

[[noreturn]] void throw_cuda_error(const char* call, const char* file, int line, cudaError_t err);
[[noreturn]] void throw_launch_error(const char* kernel, const char* file, int line,
                                     cudaError_t err);

// The compute stream of a device (created on first use). All ops and copies are ordered on it.
cudaStream_t stream(Device dev);
// Number of streaming multiprocessors of a device.
int num_sms(Device dev);
// The most dynamic shared memory one block may opt in to on a device, in bytes.
size_t smem_optin(Device dev);

// Blocks or tiles of b covering a (a >= 0, b > 0).
constexpr int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

}  // namespace kasmina::ops::cuda

// Throws InternalError naming the call, file:line and the CUDA error string.
#define KASMINA_CUDA_CHECK(expr)                                                       \
  do {                                                                                 \
    const cudaError_t kasmina_err_ = (expr);                                           \
    if (kasmina_err_ != cudaSuccess)                                                   \
      ::kasmina::ops::cuda::throw_cuda_error(#expr, __FILE__, __LINE__, kasmina_err_); \
  } while (0)

// Checks for a launch error right after a kernel launch; names the kernel.
#define KASMINA_LAUNCH_CHECK(kernel_name)                                                      \
  do {                                                                                         \
    const cudaError_t kasmina_err_ = cudaGetLastError();                                       \
    if (kasmina_err_ != cudaSuccess)                                                           \
      ::kasmina::ops::cuda::throw_launch_error(kernel_name, __FILE__, __LINE__, kasmina_err_); \
  } while (0)
