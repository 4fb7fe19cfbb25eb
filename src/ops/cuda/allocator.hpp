// The CUDA memory backend: a caching allocator with per-device size-class free lists over plain
// cudaMalloc (a training step allocates nothing once the first step has run), plus
// stream-ordered copies and fills. Usable from plain C++ (no CUDA headers needed).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.hpp"

namespace kasmina::ops::cuda {

struct AllocatorStats {
  size_t reserved_bytes = 0;   // bytes obtained from cudaMalloc and not yet returned
  size_t in_use_bytes = 0;     // size-class bytes handed out and not yet freed
  size_t cached_bytes = 0;     // free blocks kept for reuse
  int64_t device_mallocs = 0;  // cudaMalloc calls so far
  int64_t requests = 0;        // allocate() calls so far
};

// Size class of a request: powers of two from 512 B up to 1 MiB, then multiples of 2 MiB.
size_t allocation_size_class(size_t bytes);

class CachingAllocator final : public DeviceBackend {
 public:
  void* allocate(Device d, size_t bytes) override;
  void deallocate(Device d, void* p, size_t bytes) override;
  void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) override;
  void fill_bytes(void* dst, Device d, int value, size_t bytes) override;
  void synchronize(Device d) override;

  AllocatorStats stats(Device d) const;
  // Returns all cached free blocks of `d` to the driver (synchronises the device).
  void release_cached(Device d);
  // At process exit: frees every cached block; later frees go straight to cudaFree.
  void shutdown();
};

// The process-wide allocator (never destroyed, so tensors released during static destruction
// are still safe).
CachingAllocator& caching_allocator();
AllocatorStats allocator_stats(Device dev);

}  // namespace kasmina::ops::cuda
