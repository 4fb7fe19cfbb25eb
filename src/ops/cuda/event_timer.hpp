// CUDA-event timing on a device's compute stream (the CUDA half of ops::DeviceTimer).
#pragma once
#include <cuda_runtime.h>

#include "core/device.hpp"
#include "ops/timer.hpp"

namespace kasmina::ops {

struct DeviceTimer::EventPair {
  explicit EventPair(Device dev);
  ~EventPair();
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  void record_start();
  // Records the stop event, waits for it and returns the elapsed seconds.
  double record_stop_and_wait();

  Device dev;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
};

}  // namespace kasmina::ops
