#include "ops/cuda/cudnn_context.hpp"

#include <array>
#include <climits>
#include <mutex>
#include <string>

#include "ops/backend_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kMaxDevices = 64;
std::mutex g_cudnn_mu;
std::array<CudnnContext*, kMaxDevices> g_cudnn{};  // kept for the life of the process

int as_int(int64_t v, const ConvGeometry& g) {
  KASMINA_CHECK(v <= INT_MAX, "conv2d: dimension " + std::to_string(v) +
                                  " exceeds cuDNN's int range (x " + shape_str(g.x_shape()) + ")");
  return static_cast<int>(v);
}

void set_nhwc(cudnnTensorDescriptor_t d, cudnnDataType_t type, int64_t n, int64_t c, int64_t h,
              int64_t w, const ConvGeometry& g) {
  KASMINA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NHWC, type, as_int(n, g),
                                                 as_int(c, g), as_int(h, g), as_int(w, g)));
}

}  // namespace

void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  throw InternalError(std::string("cuDNN call ") + call + " failed at " + file + ":" +
                      std::to_string(line) + ": " + cudnnGetErrorString(status));
}

ConvPlan::~ConvPlan() {
  if (conv) cudnnDestroyConvolutionDescriptor(conv);
  if (w) cudnnDestroyFilterDescriptor(w);
  if (bias) cudnnDestroyTensorDescriptor(bias);
  if (y) cudnnDestroyTensorDescriptor(y);
  if (x) cudnnDestroyTensorDescriptor(x);
}

CudnnContext& cudnn_context(DeviceContext& ctx) {
  std::lock_guard<std::mutex> lock(g_cudnn_mu);
  KASMINA_CHECK(ctx.index >= 0 && ctx.index < kMaxDevices, "cuDNN: device index out of range");
  CudnnContext*& c = g_cudnn[static_cast<size_t>(ctx.index)];
  if (!c) {
    auto* fresh = new CudnnContext();
    KASMINA_CUDNN_CHECK(cudnnCreate(&fresh->main));
    KASMINA_CUDNN_CHECK(cudnnSetStream(fresh->main, ctx.on_side ? ctx.side.stream : ctx.stream));
    c = fresh;
  }
  if (ctx.on_side && !c->side) {  // ctx.stream is the side lane's now
    KASMINA_CUDNN_CHECK(cudnnCreate(&c->side));
    KASMINA_CUDNN_CHECK(cudnnSetStream(c->side, ctx.stream));
  }
  return *c;
}

void warm_up_convolutions(Device dev) {
  DeviceContext& ctx = context(dev);  // the device current on this thread too
  const cudnnHandle_t h = cudnn_context(ctx).main;
  // One heuristic query of each direction of a small bf16 3x3 convolution: cuDNN loads its
  // convolution and heuristics sub-libraries on the first. The plans are the launchers' own
  // business (the queries' answers are dropped: nothing of a run's choices is decided here).
  const ConvGeometry g{.n = 1,
                       .h = 8,
                       .w = 8,
                       .cin = 8,
                       .cout = 8,
                       .k = 3,
                       .ho = 8,
                       .wo = 8,
                       .stride = 1,
                       .padding = 1,
                       .groups = 1};
  ConvPlan p;
  KASMINA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  KASMINA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  KASMINA_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  KASMINA_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  set_nhwc(p.x, CUDNN_DATA_BFLOAT16, g.n, g.cin, g.h, g.w, g);
  set_nhwc(p.y, CUDNN_DATA_BFLOAT16, g.n, g.cout, g.ho, g.wo, g);
  KASMINA_CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, 8, 8, 3, 3));
  KASMINA_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, 1, 1, 1, 1, 1, 1,
                                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, CUDNN_TENSOR_OP_MATH));
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[1];
  KASMINA_CUDNN_CHECK(
      cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, 1, &found, fwd));
  cudnnConvolutionBwdDataAlgoPerf_t bwd_data[1];
  KASMINA_CUDNN_CHECK(
      cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, 1, &found, bwd_data));
  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[1];
  KASMINA_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, 1,
                                                                    &found, bwd_filter));
}

ConvPlan& conv_plan(DeviceContext& ctx, const ConvGeometry& g, bool bf16) {
  CudnnContext& cc = cudnn_context(ctx);
  const int32_t math = static_cast<int32_t>(ctx.math), det = ctx.deterministic;
  const ConvPlanKey key{g.n,      g.h,       g.w,      g.cin, g.cout, g.k,
                        g.stride, g.padding, g.groups, math,  det,    bf16 ? 1 : 0};
  auto it = cc.plans.find(key);
  if (it != cc.plans.end()) return *it->second;
  // cuDNN's legacy API addresses tensors with int strides.
  as_int(g.n * g.h * g.w * g.cin, g);
  as_int(g.n * g.ho * g.wo * g.cout, g);
  auto plan = std::make_unique<ConvPlan>();
  KASMINA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  KASMINA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  KASMINA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->bias));
  KASMINA_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  KASMINA_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  // bf16: x, w and y bf16 with fp32 sums (compute type float below): PSEUDO_BFLOAT16. The bias
  // descriptor is only used for float32 maps (conv.cpp adds a bf16 call's bias itself).
  plan->bf16 = bf16;
  const cudnnDataType_t type = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  set_nhwc(plan->x, type, g.n, g.cin, g.h, g.w, g);
  set_nhwc(plan->y, type, g.n, g.cout, g.ho, g.wo, g);
  set_nhwc(plan->bias, CUDNN_DATA_FLOAT, 1, g.cout, 1, 1, g);
  // OHWI weight [Cout, k, k, Cin/groups]: cuDNN's NHWC filter format (K, R, S, C).
  KASMINA_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, type, CUDNN_TENSOR_NHWC,
                                                 as_int(g.cout, g), as_int(g.cin_g(), g),
                                                 as_int(g.k, g), as_int(g.k, g)));
  const int pad = as_int(g.padding, g), stride = as_int(g.stride, g);
  KASMINA_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, pad, pad, stride, stride, 1, 1,
                                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, as_int(g.groups, g)));
  return *cc.plans.emplace(key, std::move(plan)).first->second;
}

}  // namespace kasmina::ops::cuda
