// The cold L2 of kasmina's timings: 128 MiB read before each timed CUDA iteration (the bench's
// timed_loop) or before a traced launch (the fused MLP step's perf cases), over twice the largest
// L2 of the GPUs kasmina targets (H100/H200: 50 MB). The flush reads (a column sum into 1024
// floats) rather than writes: an L2 left full of dirty lines would make the timed kernel pay for
// writing someone else's data back to DRAM (up to 50 MB, ~17 us on an H100). The timed code
// starts with a cold, clean L2, machine code included, and the previous iteration's writes were
// flushed before it. Header only: the tests use it without the bench library.
#pragma once
#include <cstdint>

#include "ops/ops.hpp"

namespace kasmina::bench {

class L2Flush {
 public:
  static constexpr int64_t kBytes = int64_t{128} << 20;
  static constexpr int64_t kCols = 1024;

  // The buffer on a CUDA device (filled once); on any other device a flush does nothing.
  explicit L2Flush(Device dev) {
    if (!dev.is_cuda()) return;
    data_ = Tensor::empty({kBytes / 4 / kCols, kCols}, DType::f32, dev);
    ops::fill(data_, 1.0);
    sums_ = Tensor::empty({kCols}, DType::f32, dev);
  }
  // Reads the whole buffer (queued on the device's stream, like the work it precedes).
  void operator()() {
    if (data_.defined()) ops::column_sums(data_, sums_);
  }

 private:
  Tensor data_, sums_;
};

}  // namespace kasmina::bench
