// CUDA graph capture of a training step on the device's compute stream.
#include <cuda_runtime.h>

#include <exception>

#include "ops/backend_ops.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

// Ends a capture that went wrong and leaves the stream usable; returns nullptr with the reason.
void* abandon_capture(cudaStream_t s, std::string* reason, const std::string& why) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(s, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t partial = nullptr;
    if (cudaStreamEndCapture(s, &partial) == cudaSuccess && partial)
      (void)cudaGraphDestroy(partial);
  }
  (void)cudaGetLastError();  // clear any error the failed capture left behind
  if (reason) *reason = why;
  return nullptr;
}

}  // namespace

void* graph_capture(Device dev, const std::function<void()>& fn, std::string* reason) {
  DeviceContext& ctx = context(dev);
  cudaStream_t s = ctx.stream;
  cudaError_t err = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) {
    return abandon_capture(s, reason,
                           std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(err));
  }
  try {
    fn();
  } catch (const std::exception& e) {
    return abandon_capture(s, reason, std::string("step failed while capturing: ") + e.what());
  }
  cudaGraph_t graph = nullptr;
  err = cudaStreamEndCapture(s, &graph);
  if (err != cudaSuccess || !graph) {
    if (graph) (void)cudaGraphDestroy(graph);
    return abandon_capture(s, reason,
                           std::string("cudaStreamEndCapture: ") + cudaGetErrorString(err));
  }
  cudaGraphExec_t exec = nullptr;
  err = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    return abandon_capture(s, reason,
                           std::string("cudaGraphInstantiate: ") + cudaGetErrorString(err));
  }
  return exec;
}

void graph_replay(Device dev, void* exec) {
  KASMINA_CHECK(exec != nullptr, "graph_replay: no captured graph");
  KASMINA_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), context(dev).stream));
}

void graph_destroy(void* exec) {
  if (exec) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec));
}

}  // namespace kasmina::ops::cuda
