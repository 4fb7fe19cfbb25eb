// CUDA launchers of the convolution ops (conv_ops.hpp) through cuDNN's convolution API, NHWC
// float32 or bf16 tensors and an OHWI filter.
//
// Algorithms: on the first call of a shape (and math mode, determinism setting) and direction,
// cudnnGet{Forward,BackwardData,BackwardFilter}Algorithm_v7 ranks cuDNN's algorithms by its
// heuristic (a fixed rule: no timing, so the choice never changes between runs, and no device
// work or allocation). The acceptable ones are kept in the plan (cudnn_context.hpp) in that
// order: succeeded, at most kConvWorkspaceLimit of workspace, deterministic in deterministic mode
// (CUDNN_DETERMINISTIC: this excludes the atomics-based backward-data and backward-filter
// algorithms), honouring the math mode. The performance database's stored winner goes first, or
// under the config's `autotune: on_first_use|exhaustive` the fastest of them timed on that first
// call (conv_tune.hpp). The first is used; should cuDNN fail to run it on that
// first call, the next is tried, and the first that runs stays. Math: fp32 mode sets
// CUDNN_FMA_MATH on the descriptor and accepts only FMA algorithms (on Ampere and later cuDNN's
// default math would use TF32 for float32 data); tf32 mode sets CUDNN_DEFAULT_MATH (TF32 tensor
// cores allowed). bf16 maps (whatever the mode) use CUDNN_TENSOR_OP_MATH: bf16 tensor cores
// with fp32 sums; cuDNN stores y, dx and dw in bf16; a bias is added by kasmina's kernel
// (launch_add_bias_bf16: fp32 add, one more rounding) and db sums the bf16 dy in fp32.
//
// With ops::direct_stem_kernels() on (the default), a one-channel image on float32 maps (an
// image stem; one_channel_conv) takes kasmina's direct kernels for the forward and the weight
// gradient instead (conv_one_channel.hpp: fp32 FMA in a fixed order in every math mode,
// deterministic); its input gradient stays cuDNN's. With ops::gemm_weight_gradients() on (off by
// default), a 1x1 convolution's weight gradient is one cuBLASLt GEMM (conv_gemm.hpp).
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
#include "ops/cuda/conv_gemm.hpp"
#include "ops/cuda/conv_one_channel.hpp"
#include "ops/cuda/conv_tune.hpp"
#include "ops/cuda/cudnn_context.hpp"
#include "ops/cuda/launch.hpp"
#include "ops/cuda/side_lane.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

std::string describe(const ConvGeometry& g) {
  return "x " + shape_str(g.x_shape()) + ", w " + shape_str(g.w_shape()) + ", stride " +
         std::to_string(g.stride) + ", padding " + std::to_string(g.padding) + ", groups " +
         std::to_string(g.groups);
}

// The acceptable candidates of cuDNN's ranked list, in its order (see the file comment).
template <class Perf>
std::vector<ConvAlgo> acceptable(const std::vector<Perf>& results, int found,
                                 const DeviceContext& ctx, const char* direction,
                                 const ConvGeometry& g, bool bf16) {
  const bool fma_only = ctx.math == MathMode::fp32 && !bf16;
  std::vector<ConvAlgo> out;
  for (int i = 0; i < found; ++i) {
    const Perf& r = results[static_cast<size_t>(i)];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kConvWorkspaceLimit) continue;
    if (ctx.deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
    if (fma_only && r.mathType != CUDNN_FMA_MATH) continue;
    out.push_back({static_cast<int>(r.algo), r.mathType, r.memory});
  }
  if (out.empty()) {
    throw InternalError(std::string("cuDNN has no acceptable ") + direction + " algorithm for " +
                        describe(g) + " (" + std::to_string(found) + " candidates; math " +
                        (bf16                         ? "bf16"
                         : ctx.math == MathMode::fp32 ? "fp32"
                                                      : "tf32") +
                        (ctx.deterministic ? ", deterministic" : "") + ")");
  }
  return out;
}

// bf16 maps ask for CUDNN_TENSOR_OP_MATH: with CUDNN_DEFAULT_MATH cuDNN's heuristic ranked
// non-tensor-core algorithms first for them (measured on the H200: backward data 2.1-3.8 ms
// against 37-51 us in TF32 at the ResNet's shapes).
cudnnMathType_t query_math(const DeviceContext& ctx, const ConvPlan& p) {
  if (p.bf16) return CUDNN_TENSOR_OP_MATH;
  return ctx.math == MathMode::fp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

// Ranks the candidates of one direction on first use: count asks cuDNN how many it may return,
// query (a cudnnGet*Algorithm_v7) ranks them for the descriptors a, b, c.
template <class A, class B, class C, class Perf>
void rank(ConvDirection& dir, const DeviceContext& ctx, cudnnHandle_t h, const ConvPlan& p,
          const char* direction, const ConvGeometry& g, cudnnStatus_t (*count)(cudnnHandle_t, int*),
          cudnnStatus_t (*query)(cudnnHandle_t, A, B, cudnnConvolutionDescriptor_t, C, int, int*,
                                 Perf*),
          A a, B b, C c) {
  if (!dir.candidates.empty()) return;
  KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, query_math(ctx, p)));
  int max_count = 0, found = 0;
  KASMINA_CUDNN_CHECK(count(h, &max_count));
  std::vector<Perf> results(static_cast<size_t>(max_count));
  KASMINA_CUDNN_CHECK(query(h, a, b, p.conv, c, max_count, &found, results.data()));
  dir.candidates = acceptable(results, found, ctx, direction, g, p.bf16);
}

enum class Direction { forward, backward_data, backward_filter };

const char* direction_name(Direction d) {
  return d == Direction::forward         ? "forward"
         : d == Direction::backward_data ? "backward-data"
                                         : "backward-filter";
}

ConvDirection& ranked(Direction d, const DeviceContext& ctx, cudnnHandle_t h, ConvPlan& p,
                      const ConvGeometry& g) {
  const char* name = direction_name(d);
  if (d == Direction::forward) {
    rank(p.fwd, ctx, h, p, name, g, &cudnnGetConvolutionForwardAlgorithmMaxCount,
         &cudnnGetConvolutionForwardAlgorithm_v7, p.x, p.w, p.y);
    return p.fwd;
  }
  if (d == Direction::backward_data) {
    rank(p.bwd_data, ctx, h, p, name, g, &cudnnGetConvolutionBackwardDataAlgorithmMaxCount,
         &cudnnGetConvolutionBackwardDataAlgorithm_v7, p.w, p.y, p.x);
    return p.bwd_data;
  }
  rank(p.bwd_filter, ctx, h, p, name, g, &cudnnGetConvolutionBackwardFilterAlgorithmMaxCount,
       &cudnnGetConvolutionBackwardFilterAlgorithm_v7, p.x, p.y, p.w);
  return p.bwd_filter;
}

// Runs one direction: run(handle, plan, algorithm, workspace) makes the cuDNN call and returns its
// status. Until a call has succeeded, a failing algorithm is passed over for the next candidate
// (all of this happens on the first call, outside any graph capture); after that a failure is an
// InternalError.
template <class Run>
void execute(DeviceContext& ctx, const ConvGeometry& g, bool bf16, Direction d, Run run) {
  const cudnnHandle_t h = cudnn_context(ctx).handle(ctx);
  ConvPlan& plan = conv_plan(ctx, g, bf16);
  ConvDirection& dir = ranked(d, ctx, h, plan, g);
  if (!dir.confirmed && !dir.ordered) {  // the measured choice, when the config asks for it
    dir.ordered = true;
    order_by_measurement(ctx, g, direction_name(d), plan, dir,
                         [&](const ConvAlgo& a, void* ws) { return run(h, plan, a, ws); });
  }
  for (;;) {
    const ConvAlgo& a = dir.candidates[dir.current];
    KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, a.math));
    void* ws = a.workspace_bytes ? scratch(ctx, a.workspace_bytes) : nullptr;
    const cudnnStatus_t st = run(h, plan, a, ws);
    if (st == CUDNN_STATUS_SUCCESS) {
      dir.confirmed = true;
      return;
    }
    if (dir.confirmed || dir.current + 1 >= dir.candidates.size()) {
      throw InternalError(std::string("cuDNN ") + direction_name(d) + " convolution failed for " +
                          describe(g) + " with algorithm " + std::to_string(a.algo) + ": " +
                          cudnnGetErrorString(st));
    }
    ++dir.current;
  }
}

constexpr float kOne = 1.0f, kZero = 0.0f;

// The reference tensor's dtype: float32 or bf16 (conv_ops.hpp); true for bf16.
bool bf16_maps(const char* op, const char* name, const Tensor& t) {
  check_on_device(op, name, t, t.device());
  KASMINA_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::bf16,
                std::string(op) + ": tensor '" + name + "' is " + dtype_name(t.dtype()) +
                    ", expected float32 or bfloat16 (CUDA)");
  return t.dtype() == DType::bf16;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    Tensor& y) {
  const ConvGeometry g = check_conv2d_forward(x, w, bias, p, y);
  const bool bf16 = bf16_maps("conv2d_forward", "x", x);
  if (g.n == 0) return;
  DeviceContext& ctx = context(x.device());
  if (!bf16 && one_channel_conv(g)) {  // an image stem: kasmina's direct kernel
    launch_conv1c_forward(ctx, g, x.data<float>(), w.data<float>(),
                          bias.defined() ? bias.data<float>() : nullptr, y.data<float>());
    return;
  }
  execute(ctx, g, bf16, Direction::forward,
          [&](cudnnHandle_t h, const ConvPlan& l, const ConvAlgo& a, void* ws) {
            return cudnnConvolutionForward(h, &kOne, l.x, x.raw(), l.w, w.raw(), l.conv,
                                           static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws,
                                           a.workspace_bytes, &kZero, l.y, y.raw());
          });
  if (!bias.defined()) return;
  if (bf16) {
    launch_add_bias_bf16(ctx.stream, y.raw(), bias.data<float>(), g.n * g.ho * g.wo, g.cout);
    return;
  }
  const ConvPlan& l = conv_plan(ctx, g, false);
  KASMINA_CUDNN_CHECK(cudnnAddTensor(cudnn_context(ctx).handle(ctx), &kOne, l.bias, bias.raw(),
                                     &kOne, l.y, y.raw()));
}

void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const ConvGeometry g = check_conv2d_backward_input(dy, w, p, dx);
  const bool bf16 = bf16_maps("conv2d_backward_input", "dy", dy);
  if (g.n == 0) return;
  execute(context(dy.device()), g, bf16, Direction::backward_data,
          [&](cudnnHandle_t h, const ConvPlan& l, const ConvAlgo& a, void* ws) {
            return cudnnConvolutionBackwardData(h, &kOne, l.w, w.raw(), l.y, dy.raw(), l.conv,
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo),
                                                ws, a.workspace_bytes, &kZero, l.x, dx.raw());
          });
}

void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dParams& p, Tensor& dw,
                            Tensor* db) {
  const ConvGeometry g = check_conv2d_backward_weight(dy, x, p, dw, db);
  const bool bf16 = bf16_maps("conv2d_backward_weight", "dy", dy);
  if (g.n == 0) {
    if (dw.dtype() == DType::bf16) {  // (fill takes no bf16; +0 is all zero bits in both)
      KASMINA_CUDA_CHECK(cudaMemsetAsync(dw.raw(), 0, dw.nbytes(), stream(dw.device())));
    } else {
      fill(dw, 0.0);
    }
    if (db) fill(*db, 0.0);
    return;
  }
  DeviceContext& ctx = context(dy.device());
  const SideLane lane(ctx);            // off the critical path inside an ops::OffPathScope
  if (!bf16 && one_channel_conv(g)) {  // an image stem: kasmina's direct kernels
    launch_conv1c_backward_weight(ctx, g, dy.data<float>(), x.data<float>(), dw.data<float>(),
                                  db ? db->data<float>() : nullptr);
    return;
  }
  // bf16 maps with a float32 dw: cuDNN writes the plan's bf16 buffer, widened below.
  Tensor* rounded = nullptr;
  if (bf16 && dw.dtype() == DType::f32) {
    ConvPlan& plan = conv_plan(ctx, g, true);
    if (!plan.dw_bf16.defined())
      plan.dw_bf16 = Tensor::empty(g.w_shape(), DType::bf16, dy.device());
    rounded = &plan.dw_bf16;
  }
  void* dw_out = rounded ? rounded->raw() : dw.raw();
  if (gemm_weight_gradient(g, bf16)) {  // a 1x1 convolution: one GEMM (conv_gemm.hpp)
    launch_gemm_weight_gradient(ctx, g, dy.raw(), x.raw(), bf16, dw_out,
                                rounded || dw.dtype() == DType::bf16);
  } else {
    execute(ctx, g, bf16, Direction::backward_filter,
            [&](cudnnHandle_t h, const ConvPlan& l, const ConvAlgo& a, void* ws) {
              return cudnnConvolutionBackwardFilter(
                  h, &kOne, l.x, x.raw(), l.y, dy.raw(), l.conv,
                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws, a.workspace_bytes,
                  &kZero, l.w, dw_out);
            });
  }
  if (rounded) cast_from_bf16(*rounded, dw);  // on this lane's stream
  // The bias gradient: a deterministic column sum of dy viewed as [N*Ho*Wo, Cout].
  if (db && bf16) {
    launch_column_sums_bf16(ctx, dy.raw(), g.n * g.ho * g.wo, g.cout, db->data<float>());
  } else if (db) {
    launch_column_sums(ctx, dy.data<float>(), g.n * g.ho * g.wo, g.cout, db->data<float>());
  }
}

}  // namespace kasmina::ops::cuda
