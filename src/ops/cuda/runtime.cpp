// CUDA runtime entry points: backend registration, device listing and selection, and the
// per-device math/determinism settings.
#include <cuda_runtime.h>

#include <cstdlib>
#include <mutex>

#include "ops/backend_ops.hpp"
#include "ops/cuda/allocator.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/cuda/side_lane.hpp"

namespace kasmina::ops::cuda {

namespace {

std::string version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

void release_at_exit() {
  caching_allocator().shutdown();
}

}  // namespace

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (device_count() == 0) return;
    register_backend(DeviceType::cuda, &caching_allocator());
    std::atexit(release_at_exit);
  });
}

bool available() {
  return device_count() > 0;
}

std::vector<CudaDeviceInfo> list_devices() {
  std::vector<CudaDeviceInfo> out;
  const int n = device_count();
  if (n == 0) return out;
  int driver = 0, runtime = 0;
  KASMINA_CUDA_CHECK(cudaDriverGetVersion(&driver));
  KASMINA_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  int previous = 0;
  KASMINA_CUDA_CHECK(cudaGetDevice(&previous));
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    KASMINA_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    CudaDeviceInfo info;
    info.index = i;
    info.name = prop.name;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    info.total_bytes = prop.totalGlobalMem;
    info.multiprocessors = prop.multiProcessorCount;
    KASMINA_CUDA_CHECK(cudaSetDevice(i));
    size_t free_b = 0, total_b = 0;
    KASMINA_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    info.free_bytes = free_b;
    info.driver_version = version_string(driver);
    info.runtime_version = version_string(runtime);
    out.push_back(info);
  }
  KASMINA_CUDA_CHECK(cudaSetDevice(previous));
  return out;
}

void use_device(Device dev) {
  init();
  context(dev);  // validates the index (UserError) and makes it current
}

void synchronize(Device dev) {
  DeviceContext& ctx = context(dev);
  join_side_lane(ctx);
  KASMINA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
}

void set_math_mode(Device dev, MathMode m) {
  context(dev).math = m;
}

MathMode math_mode(Device dev) {
  return context(dev).math;
}

void set_deterministic(Device dev, bool on) {
  context(dev).deterministic = on;
}

void set_programmatic_launch(Device dev, bool on) {
  context(dev).pdl = on;
}

bool programmatic_launch(Device dev) {
  return context(dev).pdl;
}

void set_gemm_path(Device dev, GemmPath p) {
  context(dev).gemm_path = p;
}

}  // namespace kasmina::ops::cuda
