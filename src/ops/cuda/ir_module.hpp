// The loaded seed kernels of an IR blueprint and the launch helpers the module and the autotuner
// share (src/ops/cuda/ir_module.cpp, ir_tune.cpp).
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_tuning.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops::cuda {

struct IrKernels {
  void* library = nullptr;  // cudaLibrary_t
  const void* forward = nullptr;
  const void* backward = nullptr;
  IrKernels() = default;
  IrKernels(const IrKernels&) = delete;
  IrKernels& operator=(const IrKernels&) = delete;
  ~IrKernels();
};

// Null with *why when the cubin cannot be loaded.
std::shared_ptr<IrKernels> load_ir_kernels(const std::string& cubin, std::string* why);
// Lets `kernel` use `bytes` of dynamic shared memory past the default 48 KB.
void allow_smem(const void* kernel, int64_t bytes);
void launch_seed_kernel(const void* kernel, const IrSeedArgs& a, int32_t threads, int64_t smem,
                        int32_t grid, cudaStream_t stream);
int32_t seed_grid(int32_t seeds, int sms);
// The device's name, SM count and driver; its opt-in shared memory per block and "sm_XY".
GpuId gpu_id(Device dev, int64_t* max_smem, std::string* arch);

}  // namespace kasmina::ops::cuda
