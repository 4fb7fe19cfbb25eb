// Programmatic dependent launch (PDL) between kasmina's own kernels (sm_90+). A kernel launched
// by launch_pdl may start while the kernel before it on the stream is still running; it must
// call pdl_wait() before its first global memory access (read or write): that waits until the
// previous kernels have completed and their writes are visible. pdl_launch_dependents() lets the
// next kernel's launch begin (it too waits before touching memory). In a captured CUDA graph the
// launches become programmatic edges. The one exception to "wait first": memory that no kernel
// writes (a table uploaded once before any launch that reads it, such as an optimizer plan's
// descriptors) may be read before the wait. Without PDL (switched off, or before sm_90) both device
// calls do nothing and launch_pdl is a plain launch, so results never depend on it.
#pragma once
#include <cuda_runtime.h>

#include <utility>

#include "ops/cuda/cuda_common.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::kernels {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

}  // namespace kasmina::kernels

namespace kasmina::ops::cuda {

// Launches kernel<<<grid, block, 0, ctx.stream>>>(args...), with programmatic stream
// serialisation when the context allows it. The kernel must begin with kernels::pdl_wait().
template <class... Params, class... Args>
void launch_pdl(const DeviceContext& ctx, void (*kernel)(Params...), dim3 grid, dim3 block,
                const char* name, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = 0;
  cfg.stream = ctx.stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = ctx.pdl ? 1 : 0;
  const cudaError_t err = cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
  if (err != cudaSuccess) throw_launch_error(name, __FILE__, __LINE__, err);
}

}  // namespace kasmina::ops::cuda
