#include "ops/nvrtc.hpp"

#include <memory>

#include "ops/dynamic_library.hpp"

namespace kasmina::ops {

// The NVRTC entry points kasmina uses (nvrtc.h; declared here so no CUDA header is needed).
struct Nvrtc::Api {
  using Program = void*;
  int (*version)(int*, int*);
  int (*create)(Program*, const char*, const char*, int, const char* const*, const char* const*);
  int (*compile)(Program, int, const char* const*);
  int (*log_size)(Program, size_t*);
  int (*log)(Program, char*);
  int (*ptx_size)(Program, size_t*);
  int (*ptx)(Program, char*);
  int (*cubin_size)(Program, size_t*);
  int (*cubin)(Program, char*);
  int (*destroy)(Program*);
  const char* (*error)(int);
  int (*num_archs)(int*) = nullptr;  // optional (NVRTC 11.2 and later)
  int (*archs)(int*) = nullptr;
};

namespace {

using Loaded = LoadedLibrary<Nvrtc::Api, Nvrtc>;

Loaded load() {
  Loaded l;
  void* lib = open_library(
      "KASMINA_NVRTC",
      {"libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so"},
      "NVRTC", &l.why);
  if (!lib) return l;
  auto api = std::make_unique<Nvrtc::Api>();
  const bool ok = bind_symbol(lib, "nvrtcVersion", &api->version) &&
                  bind_symbol(lib, "nvrtcCreateProgram", &api->create) &&
                  bind_symbol(lib, "nvrtcCompileProgram", &api->compile) &&
                  bind_symbol(lib, "nvrtcGetProgramLogSize", &api->log_size) &&
                  bind_symbol(lib, "nvrtcGetProgramLog", &api->log) &&
                  bind_symbol(lib, "nvrtcGetPTXSize", &api->ptx_size) &&
                  bind_symbol(lib, "nvrtcGetPTX", &api->ptx) &&
                  bind_symbol(lib, "nvrtcGetCUBINSize", &api->cubin_size) &&
                  bind_symbol(lib, "nvrtcGetCUBIN", &api->cubin) &&
                  bind_symbol(lib, "nvrtcDestroyProgram", &api->destroy) &&
                  bind_symbol(lib, "nvrtcGetErrorString", &api->error);
  if (!ok) {
    l.why = "NVRTC was loaded but lacks an entry point (" + std::string(::dlerror()) + ")";
    return l;
  }
  if (!bind_symbol(lib, "nvrtcGetNumSupportedArchs", &api->num_archs) ||
      !bind_symbol(lib, "nvrtcGetSupportedArchs", &api->archs))
    api->num_archs = nullptr;
  l.user = std::make_unique<Nvrtc>(api.get());
  l.api = std::move(api);
  return l;
}

const Loaded& loaded() {
  return load_once<Nvrtc::Api, Nvrtc, &load>();
}

}  // namespace

const Nvrtc* Nvrtc::get() {
  return loaded().user.get();
}
const std::string& Nvrtc::why() {
  return loaded().why;
}

std::string Nvrtc::version() const {
  int major = 0, minor = 0;
  api_->version(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::vector<int> Nvrtc::supported_archs() const {
  std::vector<int> out;
  int n = 0;
  if (!api_->num_archs || api_->num_archs(&n) != 0 || n <= 0) return out;
  out.resize(static_cast<size_t>(n));
  if (api_->archs(out.data()) != 0) out.clear();
  return out;
}

bool Nvrtc::version_at_least(int major, int minor) const {
  int ma = 0, mi = 0;
  api_->version(&ma, &mi);
  return ma > major || (ma == major && mi >= minor);
}

NvrtcOutput Nvrtc::compile(const std::string& source, const std::string& name,
                           const std::vector<std::string>& options) const {
  NvrtcOutput out;
  Api::Program prog = nullptr;
  int rc = api_->create(&prog, source.c_str(), name.c_str(), 0, nullptr, nullptr);
  if (rc != 0) {
    out.log = std::string("nvrtcCreateProgram: ") + api_->error(rc);
    return out;
  }
  std::vector<const char*> opts;
  bool cubin = false;
  for (const std::string& o : options) {
    opts.push_back(o.c_str());
    cubin = cubin || o.rfind("--gpu-architecture=sm_", 0) == 0;
  }
  rc = api_->compile(prog, static_cast<int>(opts.size()), opts.data());
  size_t n = 0;
  api_->log_size(prog, &n);
  out.log.assign(n, '\0');
  if (n > 0) api_->log(prog, out.log.data());
  while (!out.log.empty() && out.log.back() == '\0') out.log.pop_back();
  if (rc == 0) {
    n = 0;
    (cubin ? api_->cubin_size : api_->ptx_size)(prog, &n);
    out.binary.assign(n, '\0');
    (cubin ? api_->cubin : api_->ptx)(prog, out.binary.data());
    out.ok = true;
  } else if (out.log.empty()) {
    out.log = std::string("nvrtcCompileProgram: ") + api_->error(rc);
  }
  api_->destroy(&prog);
  return out;
}

}  // namespace kasmina::ops
