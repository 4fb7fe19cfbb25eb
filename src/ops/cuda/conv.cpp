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

// The algorithm of one direction, chosen on first use: count(&n) asks cuDNN how many candidates
// it may return, query(n, &found, results) ranks them.
template <class Perf, class Count, class Query>
const ConvAlgo& choose(ConvAlgo& slot, const DeviceContext& ctx, const ConvPlan& p,
                       const char* direction, const ConvGeometry& g, Count count, Query query) {
  if (slot.chosen) return slot;
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, query_math(ctx)));
  int max_count = 0, found = 0;
  KASMINA_CUDNN_CHECK(count(&max_count));
  std::vector<Perf> results(static_cast<size_t>(max_count));
  KASMINA_CUDNN_CHECK(query(max_count, &found, results.data()));
  slot = pick(results, found, ctx, direction, g);
  return slot;
}

enum class Direction { forward, backward_data, backward_filter };

// What one cuDNN call needs: the handle, the plan, its algorithm (the descriptor's math type set
// to it) and the workspace.
struct ConvLaunch {
  cudnnHandle_t h;
  const ConvPlan& plan;
  const ConvAlgo& algo;
  void* workspace;
};

const ConvAlgo& algo_for(Direction d, DeviceContext& ctx, cudnnHandle_t h, ConvPlan& p,
                         const ConvGeometry& g) {
  switch (d) {
    case Direction::forward:
      return choose<cudnnConvolutionFwdAlgoPerf_t>(
          p.fwd, ctx, p, "forward", g,
          [&](int* n) { return cudnnGetConvolutionForwardAlgorithmMaxCount(h, n); },
          [&](int n, int* found, cudnnConvolutionFwdAlgoPerf_t* r) {
            return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, n, found, r);
          });
    case Direction::backward_data:
      return choose<cudnnConvolutionBwdDataAlgoPerf_t>(
          p.bwd_data, ctx, p, "backward-data", g,
          [&](int* n) { return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, n); },
          [&](int n, int* found, cudnnConvolutionBwdDataAlgoPerf_t* r) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, n, found,
                                                               r);
          });
    case Direction::backward_filter:
      break;
  }
  return choose<cudnnConvolutionBwdFilterAlgoPerf_t>(
      p.bwd_filter, ctx, p, "backward-filter", g,
      [&](int* n) { return cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, n); },
      [&](int n, int* found, cudnnConvolutionBwdFilterAlgoPerf_t* r) {
        return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, n, found, r);
      });
}

ConvLaunch prepare(DeviceContext& ctx, const ConvGeometry& g, Direction d) {
  const cudnnHandle_t h = cudnn_context(ctx).handle;
  ConvPlan& plan = conv_plan(ctx, g);
  const ConvAlgo& a = algo_for(d, ctx, h, plan, g);
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, a.math));
  return {h, plan, a, a.workspace_bytes ? scratch(ctx, a.workspace_bytes) : nullptr};
}

constexpr float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    Tensor& y) {
  const ConvGeometry g = check_conv2d_forward(x, w, bias, p, y);
  check_arg("conv2d_forward", "x", x, x.device(), DType::f32);
  if (g.n == 0) return;
  DeviceContext& ctx = context(x.device());
  const ConvLaunch l = prepare(ctx, g, Direction::forward);
  KASMINA_CUDNN_CHECK(
      cudnnConvolutionForward(l.h, &kOne, l.plan.x, x.raw(), l.plan.w, w.raw(), l.plan.conv,
                              static_cast<cudnnConvolutionFwdAlgo_t>(l.algo.algo), l.workspace,
                              l.algo.workspace_bytes, &kZero, l.plan.y, y.raw()));
  if (bias.defined()) {
    KASMINA_CUDNN_CHECK(
        cudnnAddTensor(l.h, &kOne, l.plan.bias, bias.raw(), &kOne, l.plan.y, y.raw()));
  }
}

void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const ConvGeometry g = check_conv2d_backward_input(dy, w, p, dx);
  check_arg("conv2d_backward_input", "dy", dy, dy.device(), DType::f32);
  if (g.n == 0) return;
  DeviceContext& ctx = context(dy.device());
  const ConvLaunch l = prepare(ctx, g, Direction::backward_data);
  KASMINA_CUDNN_CHECK(cudnnConvolutionBackwardData(
      l.h, &kOne, l.plan.w, w.raw(), l.plan.y, dy.raw(), l.plan.conv,
      static_cast<cudnnConvolutionBwdDataAlgo_t>(l.algo.algo), l.workspace, l.algo.workspace_bytes,
      &kZero, l.plan.x, dx.raw()));
}

void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dParams& p, Tensor& dw,
                            Tensor* db) {
  const ConvGeometry g = check_conv2d_backward_weight(dy, x, p, dw, db);
  check_arg("conv2d_backward_weight", "dy", dy, dy.device(), DType::f32);
  if (g.n == 0) {
    fill(dw, 0.0);
    if (db) fill(*db, 0.0);
    return;
  }
  DeviceContext& ctx = context(dy.device());
  const ConvLaunch l = prepare(ctx, g, Direction::backward_filter);
  KASMINA_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      l.h, &kOne, l.plan.x, x.raw(), l.plan.y, dy.raw(), l.plan.conv,
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(l.algo.algo), l.workspace,
      l.algo.workspace_bytes, &kZero, l.plan.w, dw.raw()));
  // The bias gradient: a deterministic column sum of dy viewed as [N*Ho*Wo, Cout].
  if (db) {
    launch_column_sums(ctx, dy.data<float>(), g.n * g.ho * g.wo, g.cout, db->data<float>());
  }
}

}  // namespace kasmina::ops::cuda
