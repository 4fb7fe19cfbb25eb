#include "ops/cuda/cudnn_context.hpp"

#include <array>
#include <climits>
#include <mutex>
#include <string>

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
