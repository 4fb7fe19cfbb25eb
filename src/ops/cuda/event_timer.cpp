#include "ops/cuda/event_timer.hpp"

#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops {

DeviceTimer::EventPair::EventPair(Device d) : dev(d) {
  KASMINA_CUDA_CHECK(cudaSetDevice(dev.index));
  KASMINA_CUDA_CHECK(cudaEventCreate(&start));
  KASMINA_CUDA_CHECK(cudaEventCreate(&stop));
}

DeviceTimer::EventPair::~EventPair() {
  if (start) cudaEventDestroy(start);
  if (stop) cudaEventDestroy(stop);
}

void DeviceTimer::EventPair::record_start() {
  KASMINA_CUDA_CHECK(cudaEventRecord(start, cuda::stream(dev)));
}

double DeviceTimer::EventPair::record_stop_and_wait() {
  KASMINA_CUDA_CHECK(cudaEventRecord(stop, cuda::stream(dev)));
  KASMINA_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  KASMINA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  return static_cast<double>(ms) * 1e-3;
}

}  // namespace kasmina::ops
