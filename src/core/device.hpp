// Where a tensor lives, and the memory backend for each kind of device.
// Only src/ops/ knows CUDA: it registers the CUDA backend with register_backend() from
// ops::init(). Without it (no CUDA in the build, or no device), asking for a CUDA device is a
// UserError with a plain message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace kasmina {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  std::string str() const;  // "cpu", "cuda:0"
  // Parses "cpu", "cuda", "cuda:N"; throws UserError naming what is allowed.
  static Device parse(const std::string& s);
  friend bool operator==(const Device& a, const Device& b) {
    return a.type == b.type && (a.type == DeviceType::cpu || a.index == b.index);
  }
};

// Memory and ordering primitives of one kind of device. Copies and fills are ordered on the
// device's compute stream (asynchronous for CUDA unless the host side needs the data).
class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual void* allocate(Device d, size_t bytes) = 0;
  virtual void deallocate(Device d, void* p, size_t bytes) = 0;
  // dst/src may be on this backend's device or on the CPU. Host-bound copies complete before
  // returning; others are stream-ordered.
  virtual void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) = 0;
  virtual void fill_bytes(void* dst, Device d, int value, size_t bytes) = 0;
  virtual void synchronize(Device d) = 0;
};

void register_backend(DeviceType t, DeviceBackend* backend);
// Throws UserError when no backend is registered for the type (e.g. CUDA not built in).
DeviceBackend& backend(DeviceType t);
bool has_backend(DeviceType t);

}  // namespace kasmina
