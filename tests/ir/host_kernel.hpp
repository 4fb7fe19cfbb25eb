// The generated CUDA source built as a host library (a few definitions stand in for the CUDA
// keywords and intrinsics): each kernel runs as a block of one thread, blockIdx.x set by
// ks_set_block and gridDim.x by ks_set_grid (default 1), so the row kernels run one row per call
// and the seed kernels take every seed in one call (a grid of one block) or their share of them.
#pragma once
#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace kasmina::ir::testing {

struct HostKernel {
  void* lib = nullptr;
  void (*set_block)(int) = nullptr;
  void (*set_grid)(int) = nullptr;
  HostKernel() = default;
  HostKernel(const HostKernel&) = delete;
  HostKernel& operator=(const HostKernel&) = delete;
  ~HostKernel() {
    if (lib) ::dlclose(lib);
  }
  template <class F>
  F symbol(const char* name) const {
    return reinterpret_cast<F>(::dlsym(lib, name));
  }
};

inline bool host_compiler_present() {
  return std::system("c++ --version > /dev/null 2>&1") == 0;
}

// Builds `source` in `dir` (its log in dir/cc.log); false when it does not compile or load.
inline bool build_on_host(const std::string& source, const std::string& dir, HostKernel* k) {
  const std::string src = dir + "/kernel.cpp", so = dir + "/kernel.so";
  std::ofstream(src) << "#include <math.h>\nstruct KsDim { unsigned x; };\n"
                        "static KsDim blockIdx{0}, threadIdx{0}, blockDim{1}, gridDim{1};\n"
                        "#define __global__\n#define __device__\n#define __forceinline__ inline\n"
                        "#define __launch_bounds__(...)\n"
                        "#define __restrict__ __restrict\n#define __shared__\n"
                        "static inline void __syncthreads() {}\n"
                        // The intrinsics of ops/blueprint_rounding.hpp: IEEE operations here too.
                        "static inline float __fmaf_rn(float a, float b, float c) "
                        "{ return fmaf(a, b, c); }\n"
                        "static inline float __fmul_rn(float a, float b) { return a * b; }\n"
                        "static inline float __fadd_rn(float a, float b) { return a + b; }\n"
                        "static inline float __fsub_rn(float a, float b) { return a - b; }\n"
                        "static inline float __fdiv_rn(float a, float b) { return a / b; }\n"
                        "static inline float __fsqrt_rn(float a) { return sqrtf(a); }\n"
                        "double ks_smem[1 << 18];\n"
                     << source << "extern \"C\" void ks_set_block(int b) { blockIdx.x = b; }\n"
                     << "extern \"C\" void ks_set_grid(int g) { gridDim.x = g; }\n";
  const std::string cmd =
      "c++ -O1 -shared -fPIC -ffp-contract=off -o " + so + " " + src + " > " + dir + "/cc.log 2>&1";
  if (std::system(cmd.c_str()) != 0) return false;
  k->lib = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!k->lib) return false;
  k->set_block = k->symbol<void (*)(int)>("ks_set_block");
  k->set_grid = k->symbol<void (*)(int)>("ks_set_grid");
  return k->set_block != nullptr && k->set_grid != nullptr;
}

}  // namespace kasmina::ir::testing
