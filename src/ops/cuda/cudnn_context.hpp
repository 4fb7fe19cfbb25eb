// Per-device cuDNN state of the convolution launchers (conv.cpp): the cuDNN handle of a device
// context, bound to its compute stream, and the convolution plans, one per shape, data type,
// math mode and determinism setting: the NHWC descriptors (created once) and, per direction, the
// algorithm chosen on first use (cuDNN's heuristic, cudnnGet*Algorithm_v7: a fixed rule, no timing
// and no device allocation) with its workspace size. ops::warm_up_convolutions (here) creates the
// handle and makes cuDNN load its sub-libraries ahead of the first convolution: `kasmina train`
// runs it beside its data loading.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "core/tensor.hpp"
#include "ops/conv_geometry.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

struct ConvPlanKey {
  int64_t n = 0, h = 0, w = 0, cin = 0, cout = 0, k = 0, stride = 0, padding = 0, groups = 0;
  int32_t math = 0, deterministic = 0;
  int32_t bf16 = 0;  // the maps and the weight in bf16 (conv_ops.hpp), else float32
  auto tie() const {
    return std::tie(n, h, w, cin, cout, k, stride, padding, groups, math, deterministic, bf16);
  }
  friend bool operator<(const ConvPlanKey& a, const ConvPlanKey& b) { return a.tie() < b.tie(); }
};

// One algorithm of one direction (forward, backward data, backward filter).
struct ConvAlgo {
  int algo = 0;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace_bytes = 0;
};

// The acceptable algorithms of one direction in cuDNN's order (filled on first use) and the one
// in use: the first, or the next when a call with it failed before any succeeded (a heuristic
// choice cuDNN then cannot run); once a call succeeds the choice is fixed.
struct ConvDirection {
  std::vector<ConvAlgo> candidates;
  size_t current = 0;
  bool confirmed = false;
  bool ordered = false;  // the performance database / timing consulted (conv_tune.hpp)
};

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool bf16 = false;  // bf16 maps and weight, fp32 sums (cuDNN's PSEUDO_BFLOAT16 configuration)
  // A bf16 plan's weight gradient for a float32 dw (conv_ops.hpp): cuDNN writes it here, the
  // launcher widens it into dw on the same stream. Allocated on the first such call.
  Tensor dw_bf16;
  ConvDirection fwd, bwd_data, bwd_filter;
  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan();
};

struct CudnnContext {
  cudnnHandle_t main = nullptr;  // on the device's stream
  cudnnHandle_t side = nullptr;  // on the side lane's stream (side_lane.hpp), made on first use
  std::map<ConvPlanKey, std::unique_ptr<ConvPlan>> plans;
  // The handle of the lane the context is on now.
  cudnnHandle_t handle(const DeviceContext& ctx) const { return ctx.on_side ? side : main; }
};

// Largest workspace an algorithm may ask for; algorithms needing more are passed over.
constexpr size_t kConvWorkspaceLimit = size_t{256} << 20;

// The cuDNN state of `ctx` (created on first use: cudnnCreate, cudnnSetStream), with the handle
// of the lane the context is on now (the side lane's on the first off-path launch).
CudnnContext& cudnn_context(DeviceContext& ctx);

// The plan of geometry `g` with float32 or (bf16) bf16 maps and weight under the context's math
// mode and determinism setting (descriptors created on first use; algorithms are chosen by the
// launchers, see conv.cpp).
ConvPlan& conv_plan(DeviceContext& ctx, const ConvGeometry& g, bool bf16);

// Throws InternalError naming the call when a cuDNN status is not success.
void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line);

}  // namespace kasmina::ops::cuda

#define KASMINA_CUDNN_CHECK(expr) \
  ::kasmina::ops::cuda::check_cudnn((expr), #expr, __FILE__, __LINE__)
