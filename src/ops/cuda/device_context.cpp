#include "ops/cuda/device_context.hpp"

#include <array>
#include <cstdlib>
#include <string>

#include "core/env_switch.hpp"
#include "ops/cuda/allocator.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kMaxDevices = 64;
std::mutex g_ctx_mu;
std::array<DeviceContext*, kMaxDevices> g_contexts{};  // kept for the life of the process

// The launch switches of the environment (KASMINA_GEMM_PATH, KASMINA_PDL, KASMINA_SIDE_STREAM,
// KASMINA_OWN_GELU_EPILOGUES), read before anything is allocated so that a bad value leaves
// nothing behind.
void read_environment(DeviceContext& ctx) {
  if (const char* p = std::getenv("KASMINA_GEMM_PATH"); p && *p)
    ctx.gemm_path = parse_gemm_path(p, "environment variable KASMINA_GEMM_PATH");
  ctx.pdl = env_switch("KASMINA_PDL", ctx.pdl);
  ctx.side_stream = env_switch("KASMINA_SIDE_STREAM", ctx.side_stream);
  ctx.own_gelu_epilogues = env_switch("KASMINA_OWN_GELU_EPILOGUES", ctx.own_gelu_epilogues);
}

DeviceContext* create_context(int index) {
  DeviceContext settings;
  read_environment(settings);
  auto* ctx = new DeviceContext();
  ctx->gemm_path = settings.gemm_path;
  ctx->pdl = settings.pdl;
  ctx->side_stream = settings.side_stream;
  ctx->own_gelu_epilogues = settings.own_gelu_epilogues;
  ctx->index = index;
  KASMINA_CUDA_CHECK(cudaSetDevice(index));
  KASMINA_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
  KASMINA_CUBLAS_CHECK(cublasLtCreate(&ctx->lt));
  KASMINA_CUDA_CHECK(cudaDeviceGetAttribute(&ctx->sms, cudaDevAttrMultiProcessorCount, index));
  KASMINA_CUDA_CHECK(
      cudaDeviceGetAttribute(&ctx->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, index));
  ctx->workspace_bytes = kGemmWorkspaceBytes;
  KASMINA_CUDA_CHECK(cudaMalloc(&ctx->workspace, ctx->workspace_bytes));
  KASMINA_CUDA_CHECK(cudaMalloc(&ctx->tickets, sizeof(unsigned int) * kTicketCount));
  KASMINA_CUDA_CHECK(cudaMemset(ctx->tickets, 0, sizeof(unsigned int) * kTicketCount));
  return ctx;
}

}  // namespace

void throw_cuda_error(const char* call, const char* file, int line, cudaError_t err) {
  throw InternalError(std::string("CUDA call ") + call + " failed at " + file + ":" +
                      std::to_string(line) + ": " + cudaGetErrorName(err) + ": " +
                      cudaGetErrorString(err));
}

void throw_launch_error(const char* kernel, const char* file, int line, cudaError_t err) {
  throw InternalError(std::string("CUDA kernel ") + kernel + " failed to launch at " + file + ":" +
                      std::to_string(line) + ": " + cudaGetErrorName(err) + ": " +
                      cudaGetErrorString(err));
}

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw InternalError(std::string("cuBLASLt call ") + call + " failed at " + file + ":" +
                      std::to_string(line) + ": status " +
                      std::to_string(static_cast<int>(status)));
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver / no device" error
    return 0;
  }
  return n;
}

DeviceContext& context(Device dev) {
  KASMINA_CHECK(dev.is_cuda(), "CUDA context requested for device " + dev.str());
  DeviceContext* ctx = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_ctx_mu);
    const int n = device_count();
    if (dev.index < 0 || dev.index >= n || dev.index >= kMaxDevices) {
      throw UserError(dev.str() + ": no such device (" + std::to_string(n) + " devices)");
    }
    if (!g_contexts[dev.index]) g_contexts[dev.index] = create_context(dev.index);
    ctx = g_contexts[dev.index];
  }
  int current = -1;
  KASMINA_CUDA_CHECK(cudaGetDevice(&current));
  if (current != dev.index) KASMINA_CUDA_CHECK(cudaSetDevice(dev.index));
  return *ctx;
}

void* scratch(DeviceContext& ctx, size_t bytes) {
  if (bytes <= ctx.scratch_bytes) return ctx.scratch;
  const Device dev = Device::cuda(ctx.index);
  // The old buffer stays allocated: a captured CUDA graph may still point at it.
  if (ctx.scratch) ctx.retired_scratch.push_back(ctx.scratch);
  size_t grown = ctx.scratch_bytes ? ctx.scratch_bytes : size_t{1} << 20;
  while (grown < bytes) grown *= 2;
  ctx.scratch = caching_allocator().allocate(dev, grown);
  ctx.scratch_bytes = grown;
  return ctx.scratch;
}

cudaStream_t stream(Device dev) {
  return context(dev).stream;
}

int num_sms(Device dev) {
  return context(dev).sms;
}

size_t smem_optin(Device dev) {
  return static_cast<size_t>(context(dev).smem_optin);
}

}  // namespace kasmina::ops::cuda
