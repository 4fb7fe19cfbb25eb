#include "ops/cuda/allocator.hpp"

#include <cuda_runtime.h>

#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kMaxDevices = 64;

struct DevicePool {
  std::map<size_t, std::vector<void*>> free_lists;  // size class -> free blocks
  std::map<void*, size_t> live;                     // block -> size class
  AllocatorStats stats;
};

struct AllocatorState {
  std::mutex mu;
  std::array<DevicePool, kMaxDevices> pools;
  bool shut_down = false;
};

AllocatorState& state() {
  static auto* s = new AllocatorState();  // intentionally never destroyed
  return *s;
}

void release_pool_locked(DevicePool& pool) {
  for (auto& [size, blocks] : pool.free_lists) {
    for (void* p : blocks) {
      (void)cudaFree(p);  // errors ignored: may run while the runtime is unloading
      pool.stats.reserved_bytes -= size;
    }
    blocks.clear();
  }
  pool.stats.cached_bytes = 0;
}

void check_index(Device d) {
  KASMINA_CHECK(d.is_cuda() && d.index >= 0 && d.index < kMaxDevices,
                "CUDA allocator: bad device " + d.str());
}

}  // namespace

size_t allocation_size_class(size_t bytes) {
  constexpr size_t kMin = 512, kSmallLimit = size_t{1} << 20, kLargeStep = size_t{2} << 20;
  if (bytes <= kMin) return kMin;
  if (bytes <= kSmallLimit) {
    size_t c = kMin;
    while (c < bytes) c *= 2;
    return c;
  }
  return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

void* CachingAllocator::allocate(Device d, size_t bytes) {
  if (bytes == 0) return nullptr;
  check_index(d);
  context(d);  // makes the device current and validates the index
  const size_t cls = allocation_size_class(bytes);
  AllocatorState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  DevicePool& pool = s.pools[d.index];
  ++pool.stats.requests;
  auto it = pool.free_lists.find(cls);
  if (it != pool.free_lists.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    pool.stats.cached_bytes -= cls;
    pool.stats.in_use_bytes += cls;
    pool.live[p] = cls;
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, cls);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    release_pool_locked(pool);
    err = cudaMalloc(&p, cls);
  }
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw InternalError("CUDA allocator: cudaMalloc of " + std::to_string(cls) + " bytes on " +
                        d.str() + " failed: " + cudaGetErrorString(err) + " (" +
                        std::to_string(pool.stats.reserved_bytes) + " bytes reserved)");
  }
  ++pool.stats.device_mallocs;
  pool.stats.reserved_bytes += cls;
  pool.stats.in_use_bytes += cls;
  pool.live[p] = cls;
  return p;
}

void CachingAllocator::deallocate(Device d, void* p, size_t) {
  if (!p) return;
  check_index(d);
  AllocatorState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  DevicePool& pool = s.pools[d.index];
  auto it = pool.live.find(p);
  KASMINA_CHECK(it != pool.live.end(), "CUDA allocator: freeing an unknown pointer on " + d.str());
  const size_t cls = it->second;
  pool.live.erase(it);
  pool.stats.in_use_bytes -= cls;
  if (s.shut_down) {
    (void)cudaFree(p);
    pool.stats.reserved_bytes -= cls;
    return;
  }
  pool.free_lists[cls].push_back(p);
  pool.stats.cached_bytes += cls;
}

void CachingAllocator::copy(void* dst, Device dst_dev, const void* src, Device src_dev,
                            size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  if (dst_dev.is_cuda() && src_dev.is_cuda()) {
    DeviceContext& ctx = context(dst_dev);
    if (dst_dev.index == src_dev.index) {
      KASMINA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx.stream));
    } else {
      // Order after the source device's pending work, then copy on the destination stream.
      KASMINA_CUDA_CHECK(cudaStreamSynchronize(context(src_dev).stream));
      context(dst_dev);
      KASMINA_CUDA_CHECK(
          cudaMemcpyPeerAsync(dst, dst_dev.index, src, src_dev.index, bytes, ctx.stream));
    }
    return;
  }
  if (dst_dev.is_cuda()) {  // host -> device: the source is staged before the call returns
    DeviceContext& ctx = context(dst_dev);
    KASMINA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx.stream));
    return;
  }
  // device -> host: the host needs the data, so wait for it.
  DeviceContext& ctx = context(src_dev);
  KASMINA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream));
  KASMINA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
}

void CachingAllocator::fill_bytes(void* dst, Device d, int value, size_t bytes) {
  if (bytes == 0) return;
  DeviceContext& ctx = context(d);
  KASMINA_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, ctx.stream));
}

void CachingAllocator::synchronize(Device d) {
  KASMINA_CUDA_CHECK(cudaStreamSynchronize(context(d).stream));
}

AllocatorStats CachingAllocator::stats(Device d) const {
  check_index(d);
  AllocatorState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.pools[d.index].stats;
}

void CachingAllocator::release_cached(Device d) {
  check_index(d);
  KASMINA_CUDA_CHECK(cudaStreamSynchronize(context(d).stream));
  AllocatorState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  release_pool_locked(s.pools[d.index]);
}

void CachingAllocator::shutdown() {
  AllocatorState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.shut_down) return;
  s.shut_down = true;
  for (DevicePool& pool : s.pools) release_pool_locked(pool);
}

CachingAllocator& caching_allocator() {
  static auto* a = new CachingAllocator();  // intentionally never destroyed
  return *a;
}

AllocatorStats allocator_stats(Device dev) {
  return caching_allocator().stats(dev);
}

}  // namespace kasmina::ops::cuda
