#include "core/device.hpp"

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.hpp"

namespace kasmina {

std::string Device::str() const {
  return type == DeviceType::cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5) {
    const std::string n = s.substr(5);
    bool digits = !n.empty() && n.size() < 4;
    for (char c : n) digits = digits && (c >= '0' && c <= '9');
    if (digits) return cuda(std::atoi(n.c_str()));
  }
  throw UserError("unknown device '" + s + "' (allowed: cpu, cuda, cuda:N)");
}

namespace {

class CpuBackend final : public DeviceBackend {
 public:
  void* allocate(Device, size_t bytes) override {
    // 64-byte alignment: whole cache lines, and enough for any SIMD width.
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!p)
      throw InternalError("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void deallocate(Device, void* p, size_t) override { std::free(p); }
  void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) override {
    KASMINA_CHECK(dst_dev.is_cpu() && src_dev.is_cpu(), "CPU backend asked to copy device memory");
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void fill_bytes(void* dst, Device, int value, size_t bytes) override {
    if (bytes) std::memset(dst, value, bytes);
  }
  void synchronize(Device) override {}
};

CpuBackend g_cpu;
std::array<DeviceBackend*, 2> g_backends = {&g_cpu, nullptr};
std::mutex g_mu;

}  // namespace

void register_backend(DeviceType t, DeviceBackend* b) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_backends[static_cast<size_t>(t)] = b;
}

bool has_backend(DeviceType t) {
  return g_backends[static_cast<size_t>(t)] != nullptr;
}

DeviceBackend& backend(DeviceType t) {
  DeviceBackend* b = g_backends[static_cast<size_t>(t)];
  if (!b) throw UserError("this kasmina build has no CUDA support (rebuild with -Dcuda=enabled)");
  return *b;
}

}  // namespace kasmina
