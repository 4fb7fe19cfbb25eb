// The loaded seed kernels of an IR blueprint and the launch helpers the module and the autotuner
// share (src/ops/cuda/ir_module.cpp, ir_tune.cpp).
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "ir/blueprint.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/blueprint_tuning.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops::cuda {

struct IrKernels {
  void* library = nullptr;                   // cudaLibrary_t: the module's (both kernels)
  std::shared_ptr<const std::string> image;  // what it was loaded from (kept until unloaded)
  const void* forward = nullptr;
  const void* backward = nullptr;
  int32_t forward_threads = 0, backward_threads = 0;  // their maxThreadsPerBlock
  IrKernels() = default;
  IrKernels(const IrKernels&) = delete;
  IrKernels& operator=(const IrKernels&) = delete;
  ~IrKernels();
};

// Null with *why when the module (one cubin or PTX text with both seed kernels; kept with the
// kernels, unchanged, as the driver may read it until it is unloaded) cannot be loaded.
std::shared_ptr<IrKernels> load_ir_kernels(std::shared_ptr<const std::string> module,
                                           std::string* why);
// Lets `kernel` use `bytes` of dynamic shared memory past the default 48 KB.
void allow_smem(const void* kernel, int64_t bytes);
// dependent: a programmatic dependent of the kernel queued before it (runs beside it).
void launch_seed_kernel(const void* kernel, const IrSeedArgs& a, int32_t threads, int64_t smem,
                        int32_t grid, cudaStream_t stream, bool dependent = false);
// Blocks of a seed kernel: no more than the seeds, the pool slots or two per SM (as the fused
// seed kernels' seed_kernel_blocks).
int32_t seed_grid(int32_t seeds, int32_t pool_slots, int sms);
bool aligned16(const void* p);
// The device's name, SM count and driver; its opt-in shared memory per block and "sm_XY".
GpuId gpu_id(Device dev, int64_t* max_smem, std::string* arch);
// An IR blueprint's seed kernels for a device: compiled through the caches for its architecture
// and loaded (the in-memory LRU of loaded kernels first); kernels null with `why` otherwise.
struct LoadedIr {
  GpuId gpu;
  int64_t max_smem = 0;
  CompiledBlueprint compiled;
  std::shared_ptr<IrKernels> kernels;
  std::string why;
};
// `final`: a tiered compile's fused kernels (waited for), not the linked ones served first.
LoadedIr compile_and_load(const ir::IrBlueprint& bp, const morph::BlueprintShape& sh, Device dev,
                          bool final = false);

// The limits of one of the kernels on a device with max_smem opt-in shared memory.
inline KernelLimits kernel_limits(const IrKernels& k, bool backward, int64_t max_smem) {
  return {max_smem, backward ? k.backward_threads : k.forward_threads};
}

}  // namespace kasmina::ops::cuda
