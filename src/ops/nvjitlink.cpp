#include "ops/nvjitlink.hpp"

#include <cstdint>
#include <memory>

#include "core/str_cat.hpp"
#include "ops/dynamic_library.hpp"

namespace kasmina::ops {

// The entry points kasmina uses (nvJitLink.h; declared here so no CUDA header is needed).
struct NvJitLink::Api {
  using Handle = void*;
  int (*version)(unsigned*, unsigned*);
  int (*create)(Handle*, uint32_t, const char**);
  int (*add_data)(Handle, int, const void*, size_t, const char*);
  int (*complete)(Handle);
  int (*cubin_size)(Handle, size_t*);
  int (*cubin)(Handle, void*);
  int (*error_log_size)(Handle, size_t*);
  int (*error_log)(Handle, char*);
  int (*destroy)(Handle*);
};

namespace {

constexpr int kInputCubin = 1;  // NVJITLINK_INPUT_CUBIN

using LoadedNvJitLink = LoadedLibrary<NvJitLink::Api, NvJitLink>;

LoadedNvJitLink load_nvjitlink() {
  LoadedNvJitLink l;
  void* lib = open_library("KASMINA_NVJITLINK",
                           {"libnvJitLink.so.13", "libnvJitLink.so.12", "libnvJitLink.so",
                            "/usr/local/cuda/lib64/libnvJitLink.so"},
                           "nvJitLink", &l.why);
  if (!lib) return l;
  auto api = std::make_unique<NvJitLink::Api>();
  const bool ok = bind_symbol(lib, "nvJitLinkVersion", &api->version) &&
                  bind_symbol(lib, "nvJitLinkCreate", &api->create) &&
                  bind_symbol(lib, "nvJitLinkAddData", &api->add_data) &&
                  bind_symbol(lib, "nvJitLinkComplete", &api->complete) &&
                  bind_symbol(lib, "nvJitLinkGetLinkedCubinSize", &api->cubin_size) &&
                  bind_symbol(lib, "nvJitLinkGetLinkedCubin", &api->cubin) &&
                  bind_symbol(lib, "nvJitLinkGetErrorLogSize", &api->error_log_size) &&
                  bind_symbol(lib, "nvJitLinkGetErrorLog", &api->error_log) &&
                  bind_symbol(lib, "nvJitLinkDestroy", &api->destroy);
  if (!ok) {
    l.why = str_cat("nvJitLink was loaded but lacks an entry point (", ::dlerror(), ")");
    return l;
  }
  l.user = std::make_unique<NvJitLink>(api.get());
  l.api = std::move(api);
  return l;
}

const LoadedNvJitLink& loaded_nvjitlink() {
  return load_once<NvJitLink::Api, NvJitLink, &load_nvjitlink>();
}

}  // namespace

const NvJitLink* NvJitLink::get() {
  return loaded_nvjitlink().user.get();
}
const std::string& NvJitLink::why() {
  return loaded_nvjitlink().why;
}

std::string NvJitLink::version() const {
  unsigned major = 0, minor = 0;
  api_->version(&major, &minor);
  return str_cat(major, ".", minor);
}

NvrtcOutput NvJitLink::link(const std::vector<const std::string*>& cubins,
                            const std::string& arch) const {
  NvrtcOutput out;
  const std::string arch_option = "-arch=" + arch;
  const char* options[] = {arch_option.c_str()};
  Api::Handle h = nullptr;
  int rc = api_->create(&h, 1, options);
  if (rc != 0) {
    out.log = str_cat("nvJitLinkCreate failed (", rc, ")");
    return out;
  }
  for (size_t i = 0; i < cubins.size() && rc == 0; ++i) {
    const std::string name = str_cat("part", i, ".cubin");
    rc = api_->add_data(h, kInputCubin, cubins[i]->data(), cubins[i]->size(), name.c_str());
  }
  if (rc == 0) rc = api_->complete(h);
  if (rc == 0) {
    size_t n = 0;
    rc = api_->cubin_size(h, &n);
    out.binary.assign(n, '\0');
    if (rc == 0) rc = api_->cubin(h, out.binary.data());
    out.ok = rc == 0;
  }
  if (!out.ok) {
    size_t n = 0;
    api_->error_log_size(h, &n);
    std::string log(n, '\0');
    if (n > 0) api_->error_log(h, log.data());
    while (!log.empty() && log.back() == '\0') log.pop_back();
    out.log = str_cat("nvJitLink failed (", rc, ")", log.empty() ? "" : ": ", log);
    out.binary.clear();
  }
  api_->destroy(&h);
  return out;
}

}  // namespace kasmina::ops
