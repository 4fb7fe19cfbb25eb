#include "ops/timer.hpp"

#include "core/error.hpp"
#include "kasmina_build_config.hpp"

#if KASMINA_HAS_CUDA
#include "ops/cuda/event_timer.hpp"
#endif

namespace kasmina::ops {

#if !KASMINA_HAS_CUDA
struct DeviceTimer::EventPair {};
#endif

DeviceTimer::DeviceTimer(Device dev) : dev_(dev) {
  if (dev_.is_cuda()) {
#if KASMINA_HAS_CUDA
    events_ = std::make_unique<EventPair>(dev_);
#else
    throw UserError("CUDA device " + dev_.str() + " requested, but this build has no CUDA");
#endif
  }
}

DeviceTimer::~DeviceTimer() = default;

void DeviceTimer::start() {
#if KASMINA_HAS_CUDA
  if (events_) {
    events_->record_start();
    return;
  }
#endif
  cpu_start_ = std::chrono::steady_clock::now();
}

double DeviceTimer::stop() {
#if KASMINA_HAS_CUDA
  if (events_) return events_->record_stop_and_wait();
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - cpu_start_).count();
}

}  // namespace kasmina::ops
