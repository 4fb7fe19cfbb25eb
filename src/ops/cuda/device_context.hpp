// Per-device state of the CUDA engine: the compute stream, the cuBLASLt handle and its
// workspace, math/determinism settings, the GEMM algorithm cache and a scratch buffer for
// reductions. Created lazily on first use and kept for the life of the process.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ops/cuda/cuda_common.hpp"
#include "ops/cuda/gemm_algo_cache.hpp"
#include "ops/gemm_route.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops::cuda {

struct DeviceContext {
  int index = 0;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  int sms = 0;
  int smem_optin = 0;  // opt-in shared memory per block, bytes
  MathMode math = MathMode::fp32;
  bool deterministic = true;
  bool fused_epilogues = true;  // false: plain GEMM + own kernels (see gemm_options.hpp)
  // GELU and DGELU by kasmina's epilogue kernels after a plain GEMM instead of cuBLASLt's
  // (KASMINA_OWN_GELU_EPILOGUES=1; gemm_options.hpp). Off by default: slower (bench/RESULTS.md).
  bool own_gelu_epilogues = false;
  GemmPath gemm_path = GemmPath::automatic;  // ops/gemm_route.hpp (KASMINA_GEMM_PATH)
  // Programmatic dependent launch of own kernels (KASMINA_PDL=0 switches it off). On by default:
  // on an H100 the bf16 MLP step 62.4 -> 55.9 us at B256, the gemm seed step 108 -> 74 us, every
  // other training step within 1% (bench/RESULTS.md, twenty-eighth session).
  bool pdl = true;
  int64_t epilogues_fused = 0, epilogues_unavailable = 0, epilogues_forced = 0;
  GemmAlgoCache algos;
  // Scratch memory for multi-stage reductions (grows, never shrinks; stream-ordered use).
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  std::vector<void*> retired_scratch;  // outgrown buffers, kept for graphs that captured them
  // Zero-initialised counters for single-launch reductions ("last block done": each block takes
  // a ticket, the last one reduces the partials in a fixed order and resets its counter to 0).
  unsigned int* tickets = nullptr;  // [kTicketCount]
  // The side lane (side_lane.hpp): a second stream with a workspace, scratch and tickets of its
  // own, swapped into the fields above while an off-path launch runs.
  struct Lane {
    cudaStream_t stream = nullptr;
    void* workspace = nullptr;
    void* scratch = nullptr;
    size_t scratch_bytes = 0;
    std::vector<void*> retired_scratch;
    unsigned int* tickets = nullptr;
  } side;
  bool side_stream = true;    // KASMINA_SIDE_STREAM (default 1): off-path launches may use it
  int off_path_scopes = 0;    // open ops::OffPathScope objects
  bool on_side = false;       // the lane fields above are the side lane's now
  bool side_pending = false;  // side work not yet joined into `stream`
  cudaEvent_t fork_event = nullptr, join_event = nullptr;
};

// Ticket counters by user (one kernel at a time per counter; stream order keeps them apart).
constexpr int kTicketSoftmaxXent = 0;
constexpr int kTicketOptimizer = 1;
constexpr int kTicketBatchnorm =
    2;  // kernels/conv/bn_columns.cuh (statistics, parameter gradients)
// The own small GEMMs' bias-gradient reduction: one counter per column tile.
constexpr int kTicketSmallGemm = 8;
// The fused MLP step (kernels/mlp_step.cu): its grid barrier's arrival and exit counters, then
// one counter per split-K tile of a phase (at most one per thread block of its grid).
constexpr int kTicketMlpStep = kTicketSmallGemm + static_cast<int>(kOwnGemmMaxColumnTiles);
constexpr int kMlpStepMaxBlocks = 1024;
constexpr int kTicketCount = kTicketMlpStep + 2 + kMlpStepMaxBlocks;

// cuBLASLt workspace per device (Hopper kernels use up to 32 MiB).
constexpr size_t kGemmWorkspaceBytes = size_t{32} << 20;

// Number of CUDA devices (0 when no driver or device; never throws).
int device_count();
// The context of `dev`; makes it the current device of the calling thread. Throws UserError
// when the device does not exist.
DeviceContext& context(Device dev);
// A scratch buffer of at least `bytes` on the context's device, ordered on its stream.
void* scratch(DeviceContext& ctx, size_t bytes);

// Throws InternalError naming the call when a cuBLASLt status is not success.
void check_cublas(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace kasmina::ops::cuda

#define KASMINA_CUBLAS_CHECK(expr) \
  ::kasmina::ops::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
