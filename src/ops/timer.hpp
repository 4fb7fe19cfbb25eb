// Device-agnostic elapsed-time measurement for benchmarks: CUDA events recorded on the
// device's compute stream (so the time is the device's, not the host's launch time), a
// steady clock on the CPU. The only host-device synchronisation is in stop().
#pragma once
#include <chrono>
#include <memory>

#include "core/device.hpp"

namespace kasmina::ops {

class DeviceTimer {
 public:
  explicit DeviceTimer(Device dev);
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;

  // Marks the start (on CUDA: an event queued behind the work already on the stream).
  void start();
  // Marks the end, waits for it and returns the seconds since start().
  double stop();

  struct EventPair;  // CUDA events (defined in src/ops/cuda/event_timer.hpp)

 private:
  Device dev_;
  std::chrono::steady_clock::time_point cpu_start_;
  std::unique_ptr<EventPair> events_;
};

}  // namespace kasmina::ops
