// NVRTC, loaded at run time (dlopen), so that every build can compile generated kernels and a
// machine without it is told once and goes on: the library is probed once per process
// ($KASMINA_NVRTC names the only file tried, else libnvrtc.so.12, .so.13, libnvrtc.so and the CUDA
// toolkit's lib64); compile() turns CUDA C++ into
// PTX (--gpu-architecture=compute_XX) or a cubin (sm_XX) with the compiler's log.
#pragma once
#include <string>
#include <vector>

namespace kasmina::ops {

struct NvrtcOutput {
  bool ok = false;
  std::string binary;  // PTX text or cubin bytes
  std::string log;     // the compiler's log (why it failed)
};

class Nvrtc {
 public:
  // The loaded library, or null (then why() says why; the probe runs once per process).
  static const Nvrtc* get();
  static const std::string& why();
  // "12.4"
  std::string version() const;
  bool version_at_least(int major, int minor) const;
  // The architectures it compiles for (90 for sm_90), ascending; empty when it cannot say.
  std::vector<int> supported_archs() const;
  // Compiles `source` (named `name` in messages) with `options` (e.g.
  // {"--gpu-architecture=sm_90", "-default-device"}); a cubin when the architecture is sm_XX.
  NvrtcOutput compile(const std::string& source, const std::string& name,
                      const std::vector<std::string>& options) const;

  struct Api;
  explicit Nvrtc(const Api* api) : api_(api) {}

 private:
  const Api* api_;
};

}  // namespace kasmina::ops
