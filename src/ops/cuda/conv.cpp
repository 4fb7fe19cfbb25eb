// CUDA launchers of the convolution ops (conv_ops.hpp) through cuDNN's convolution API, NHWC
// float32 tensors and an OHWI filter.
//
// Algorithms: on the first call of a shape (and math mode, determinism setting) and direction,
// cudnnGet{Forward,BackwardData,BackwardFilter}Algorithm_v7 ranks cuDNN's algorithms by its
// heuristic (a fixed rule: no timing, so the choice never changes between runs, and no device
// work or allocation) and the first one that succeeded, fits kConvWorkspaceLimit, is
// deterministic in deterministic mode (CUDNN_DETERMINISTIC: this excludes the atomics-based
// backward-data and backward-filter algorithms) and honours the math mode is kept in the plan
// (cudnn_context.hpp). Math: fp32 mode sets CUDNN_FMA_MATH on the descriptor and accepts only
// FMA algorithms (on Ampere and later cuDNN's default math would use TF32 for float32 data);
// tf32 mode sets CUDNN_DEFAULT_MATH (TF32 tensor cores allowed).
//
// Workspace: the device context's scratch buffer (caching allocator; grows, never shrinks, old
// buffers kept for graphs that captured them). Graph capture: the first call of a shape creates
// descriptors, chooses algorithms and may grow the scratch buffer (a cudaMalloc), so it must run
// outside a capture (StepGraph runs the step once before capturing); every later call only sets
// the descriptor's math type (host memory) and launches on the context's stream: capturable,
// with no allocation and no synchronisation.
#include <cudnn.h>

#include <string>
#include <vector>

#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cudnn_context.hpp"
#include "ops/cuda/launch.hpp"

namespace kasmina::ops::cuda {

namespace {

std::string describe(const ConvGeometry& g) {
  return "x " + shape_str(g.x_shape()) + ", w " + shape_str(g.w_shape()) + ", stride " +
         std::to_string(g.stride) + ", padding " + std::to_string(g.padding) + ", groups " +
         std::to_string(g.groups);
}

// The first acceptable candidate of cuDNN's ranked list (see the file comment).
template <class Perf>
ConvAlgo pick(const std::vector<Perf>& results, int found, const DeviceContext& ctx,
              const char* direction, const ConvGeometry& g) {
  for (int i = 0; i < found; ++i) {
    const Perf& r = results[static_cast<size_t>(i)];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kConvWorkspaceLimit) continue;
    if (ctx.deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
    if (ctx.math == MathMode::fp32 && r.mathType != CUDNN_FMA_MATH) continue;
    ConvAlgo a;
    a.chosen = true;
    a.algo = static_cast<int>(r.algo);
    a.math = r.mathType;
    a.workspace_bytes = r.memory;
    return a;
  }
  throw InternalError(std::string("cuDNN has no acceptable ") + direction + " algorithm for " +
                      describe(g) + " (" + std::to_string(found) + " candidates; math " +
                      (ctx.math == MathMode::fp32 ? "fp32" : "tf32") +
                      (ctx.deterministic ? ", deterministic" : "") + ")");
}

cudnnMathType_t query_math(const DeviceContext& ctx) {
  return ctx.math == MathMode::fp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

const ConvAlgo& forward_algo(DeviceContext& ctx, cudnnHandle_t h, ConvPlan& p,
                             const ConvGeometry& g) {
  if (p.fwd.chosen) return p.fwd;
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, query_math(ctx)));
  int max_count = 0, found = 0;
  KASMINA_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> r(static_cast<size_t>(max_count));
  KASMINA_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, max_count,
                                                             &found, r.data()));
  p.fwd = pick(r, found, ctx, "forward", g);
  return p.fwd;
}

const ConvAlgo& backward_data_algo(DeviceContext& ctx, cudnnHandle_t h, ConvPlan& p,
                                   const ConvGeometry& g) {
  if (p.bwd_data.chosen) return p.bwd_data;
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, query_math(ctx)));
  int max_count = 0, found = 0;
  KASMINA_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> r(static_cast<size_t>(max_count));
  KASMINA_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x,
                                                                  max_count, &found, r.data()));
  p.bwd_data = pick(r, found, ctx, "backward-data", g);
  return p.bwd_data;
}

const ConvAlgo& backward_filter_algo(DeviceContext& ctx, cudnnHandle_t h, ConvPlan& p,
                                     const ConvGeometry& g) {
  if (p.bwd_filter.chosen) return p.bwd_filter;
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, query_math(ctx)));
  int max_count = 0, found = 0;
  KASMINA_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> r(static_cast<size_t>(max_count));
  KASMINA_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w,
                                                                    max_count, &found, r.data()));
  p.bwd_filter = pick(r, found, ctx, "backward-filter", g);
  return p.bwd_filter;
}

// The workspace of a chosen algorithm (null when it needs none); sets the descriptor's math.
void* prepare(DeviceContext& ctx, ConvPlan& p, const ConvAlgo& a) {
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, a.math));
  return a.workspace_bytes ? scratch(ctx, a.workspace_bytes) : nullptr;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    Tensor& y) {
  constexpr const char* op = "conv2d_forward";
  const Device dev = x.device();
  check_arg(op, "x", x, dev, DType::f32);
  check_arg(op, "w", w, dev, DType::f32);
  const ConvGeometry g = conv_geometry(op, x.shape(), w.shape(), p);
  check_arg(op, "y", y, dev, DType::f32, g.y_shape());
  if (bias.defined()) check_arg(op, "bias", bias, dev, DType::f32, {g.cout});
  if (g.n == 0) return;
  DeviceContext& ctx = context(dev);
  const cudnnHandle_t h = cudnn_context(ctx).handle;
  ConvPlan& plan = conv_plan(ctx, g);
  const ConvAlgo& a = forward_algo(ctx, h, plan, g);
  void* ws = prepare(ctx, plan, a);
  const float one = 1.0f, zero = 0.0f;
  KASMINA_CUDNN_CHECK(cudnnConvolutionForward(h, &one, plan.x, x.raw(), plan.w, w.raw(), plan.conv,
                                              static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws,
                                              a.workspace_bytes, &zero, plan.y, y.raw()));
  if (bias.defined()) {
    KASMINA_CUDNN_CHECK(cudnnAddTensor(h, &one, plan.bias, bias.raw(), &one, plan.y, y.raw()));
  }
}

void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  constexpr const char* op = "conv2d_backward_input";
  const Device dev = dy.device();
  check_arg(op, "dy", dy, dev, DType::f32);
  check_arg(op, "w", w, dev, DType::f32);
  check_arg(op, "dx", dx, dev, DType::f32);
  const ConvGeometry g = conv_geometry(op, dx.shape(), w.shape(), p);
  check_arg(op, "dy", dy, dev, DType::f32, g.y_shape());
  if (g.n == 0) return;
  DeviceContext& ctx = context(dev);
  const cudnnHandle_t h = cudnn_context(ctx).handle;
  ConvPlan& plan = conv_plan(ctx, g);
  const ConvAlgo& a = backward_data_algo(ctx, h, plan, g);
  void* ws = prepare(ctx, plan, a);
  const float one = 1.0f, zero = 0.0f;
  KASMINA_CUDNN_CHECK(
      cudnnConvolutionBackwardData(h, &one, plan.w, w.raw(), plan.y, dy.raw(), plan.conv,
                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws,
                                   a.workspace_bytes, &zero, plan.x, dx.raw()));
}

void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dParams& p, Tensor& dw,
                            Tensor* db) {
  constexpr const char* op = "conv2d_backward_weight";
  const Device dev = dy.device();
  check_arg(op, "dy", dy, dev, DType::f32);
  check_arg(op, "x", x, dev, DType::f32);
  check_arg(op, "dw", dw, dev, DType::f32);
  const ConvGeometry g = conv_geometry(op, x.shape(), dw.shape(), p);
  check_arg(op, "dy", dy, dev, DType::f32, g.y_shape());
  if (db) check_arg(op, "db", *db, dev, DType::f32, {g.cout});
  if (g.n == 0) {
    fill(dw, 0.0);
    if (db) fill(*db, 0.0);
    return;
  }
  DeviceContext& ctx = context(dev);
  const cudnnHandle_t h = cudnn_context(ctx).handle;
  ConvPlan& plan = conv_plan(ctx, g);
  const ConvAlgo& a = backward_filter_algo(ctx, h, plan, g);
  void* ws = prepare(ctx, plan, a);
  const float one = 1.0f, zero = 0.0f;
  KASMINA_CUDNN_CHECK(
      cudnnConvolutionBackwardFilter(h, &one, plan.x, x.raw(), plan.y, dy.raw(), plan.conv,
                                     static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws,
                                     a.workspace_bytes, &zero, plan.w, dw.raw()));
  // The bias gradient: a deterministic column sum of dy viewed as [N*Ho*Wo, Cout].
  if (db) {
    launch_column_sums(ctx, dy.data<float>(), g.n * g.ho * g.wo, g.cout, db->data<float>());
  }
}

}  // namespace kasmina::ops::cuda
