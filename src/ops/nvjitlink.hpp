// nvJitLink, loaded at run time (dlopen) as NVRTC is (nvrtc.hpp): it links relocatable cubins
// (NVRTC's -rdc=true output) into one cubin on the host, with no device and no driver, so the
// linked blueprint modules (blueprint_codegen.hpp) are made and cached where they are compiled.
// The library is probed once per process ($KASMINA_NVJITLINK names the only file tried, else
// libnvJitLink.so.13, .so.12, libnvJitLink.so and the CUDA toolkit's lib64). A machine without
// it compiles blueprints the inlined way.
#pragma once
#include <string>
#include <vector>

#include "ops/nvrtc.hpp"

namespace kasmina::ops {

class NvJitLink {
 public:
  // The loaded library, or null (then why() says why).
  static const NvJitLink* get();
  static const std::string& why();
  // "13.0"
  std::string version() const;
  // Links `cubins` (relocatable, for `arch`, "sm_90") into one cubin; the log says why not.
  NvrtcOutput link(const std::vector<const std::string*>& cubins, const std::string& arch) const;

  struct Api;
  explicit NvJitLink(const Api* api) : api_(api) {}

 private:
  const Api* api_;
};

}  // namespace kasmina::ops
