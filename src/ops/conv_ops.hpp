// The convolutional-network op family: 2-D convolution, batch normalisation, max/average pooling
// and global average pooling. Each op is declared once by KASMINA_OP (op_registry.hpp); the CPU
// twins are in src/ops/cpu/conv*.cpp, batchnorm.cpp, pool.cpp (float32 and float64), the CUDA
// launchers in src/ops/cuda/conv.cpp (cuDNN) and kernels/conv/ (pools, batchnorm, float32).
//
// Layout: every feature map is NHWC, [N, H, W, C] row-major, and a convolution's weight is
// [Cout, kh, kw, Cin/groups] (OHWI). Why NHWC:
//  - cuDNN's fastest convolution kernels on tensor cores (Ampere, Hopper) take NHWC; with NCHW it
//    inserts transposes around them;
//  - channels are the last dimension, so an NHWC map is also an [N*H*W, C] matrix: a 1x1
//    convolution or a linear layer over the channels is one plain GEMM over N*H*W rows (the
//    linear ops apply unchanged), the kasmina layers see a channel group of every spatial position
//    as rows, and per-channel statistics (batchnorm, bias gradients) are column reductions of
//    that matrix (kernels/column_reduce.cuh, deterministic, no atomics).
//
// Geometry: kernel, stride and padding are square (the same along H and W; every network of
// kasmina uses square ones), padding is symmetric zero padding, dilation is 1. Output sizes:
//   Ho = (H + 2*padding - kernel) / stride + 1   (floor; ceil_mode is not offered).
// Shape mismatches are InternalErrors naming the op (configs are checked before they get here).
#pragma once
#include <cstdint>

#include "core/tensor.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::ops {

// Output extent of a convolution or pooling window along one axis (0 or less: no output).
constexpr int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

// A convolution's stride, padding and groups (the kernel size is the weight's kh x kw; square).
struct Conv2dParams {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;  // Cin and Cout divisible by it; groups == Cin == Cout: depthwise
};

// A pooling window (square): kernel, stride, padding (padding <= kernel / 2, as in PyTorch).
struct Pool2dParams {
  int64_t kernel = 2;
  int64_t stride = 2;
  int64_t padding = 0;
};

// Batch normalisation settings (PyTorch semantics and defaults).
struct BatchNormParams {
  float eps = 1e-5f;
  float momentum = 0.1f;  // running = (1 - momentum) * running + momentum * batch statistic
  bool relu = false;      // fused ReLU: y = max(0, bn(x)); the backward masks dy by y > 0
  // false: the training forward computes the statistics (saved and running) only and leaves y
  // alone (undefined is allowed); a fused residual tail applies them (batchnorm_residual_forward)
  bool apply = true;
};

// A batch normalisation as the fused residual tail reads it: its input and its training
// statistics (save_mean, save_rstd of batchnorm_forward_train) and affine parameters.
struct BatchNormTerm {
  const Tensor* x = nullptr;  // [R, C]
  const Tensor* gamma = nullptr;
  const Tensor* beta = nullptr;
  const Tensor* mean = nullptr;
  const Tensor* rstd = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Convolution (cross-correlation, as PyTorch's Conv2d). CUDA: cuDNN, the algorithm of each
// shape and direction chosen once (cuDNN's heuristic, a fixed rule: no timing) and cached per
// device; in deterministic mode only deterministic algorithms; workspace from the context's
// scratch buffer (caching allocator). Math: fp32 mode restricts cuDNN to FMA kernels
// (CUDNN_FMA_MATH), tf32 mode lets it use TF32 tensor cores. The first call of a shape and
// direction creates descriptors and may grow the workspace: run it once before capturing a CUDA
// graph (StepGraph's contract); later calls launch only and are graph-capturable.
//
// bf16 (docs/PRECISION.md, "Convolutions"): the maps and the weight of one call (x, w, y; dy, w,
// dx; dy, x, dw) may all be bf16 instead of float32. cuDNN then multiplies on bf16 tensor cores
// and sums in fp32 (its PSEUDO_BFLOAT16 configuration), and rounds each stored result to bf16
// once, the weight gradient included (cuDNN writes dw in the inputs' type, as PyTorch's autocast
// gets it; a float32 dw receives that rounded gradient widened, in the launch that computes it,
// so the layer's fp32 gradient needs no pass of its own); the bias and the bias gradient stay
// float32: a bias is added to the stored bf16 y in
// fp32 and rounded again (two roundings), db sums the bf16 dy in fp32. The CPU twins emulate
// this exactly: the float32 path on the widened inputs, each stored value rounded as the GPU
// rounds it (core/bf16.hpp), so they differ from the GPU only in the order of the fp32 sums.
// ---------------------------------------------------------------------------------------------

// y[n,oh,ow,o] = bias[o] + Σ_{i,j,c} x[n, oh*s-p+i, ow*s-p+j, g*Cg+c] * w[o,i,j,c]
// (g = o / (Cout/groups), Cg = Cin/groups; out-of-range positions are zero).
// x [N,H,W,Cin], w [Cout,kh,kw,Cin/groups], bias [Cout] or undefined, y [N,Ho,Wo,Cout].
KASMINA_OP(void, conv2d_forward,
           (const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, Tensor& y),
           (x, w, bias, p, y), x.device())
// dx [N,H,W,Cin] = the input gradient from dy [N,Ho,Wo,Cout] (overwritten).
KASMINA_OP(void, conv2d_backward_input,
           (const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx), (dy, w, p, dx),
           dy.device())
// dw [Cout,kh,kw,Cin/groups] = the weight gradient (overwritten); db [Cout] = Σ over N,Ho,Wo of
// dy when non-null (a deterministic column sum of dy viewed as [N*Ho*Wo, Cout]).
KASMINA_OP(void, conv2d_backward_weight,
           (const Tensor& dy, const Tensor& x, const Conv2dParams& p, Tensor& dw, Tensor* db),
           (dy, x, p, dw, db), dy.device())

// Whether CUDA runs the forward and weight gradient of a one-channel image (an image stem: one
// input channel, no groups, kernel 1, 3 or 5, float32 maps) on kasmina's direct kernels
// (kernels/conv/conv_one_channel.cu) instead of cuDNN. On by default (measured faster than cuDNN
// on the GPU: bench/RESULTS.md); KASMINA_DIRECT_STEM=0 in the environment (read when first
// asked) or set_direct_stem_kernels(false) hands them back to cuDNN. No effect on the CPU.
bool direct_stem_kernels();
void set_direct_stem_kernels(bool on);

// Whether CUDA runs the weight gradient of a 1x1 convolution without padding or groups (a
// ResNet's projection shortcut) as one cuBLASLt GEMM over the output positions (the strided
// input pixels gathered first when the stride is above 1; src/ops/cuda/conv_gemm.cpp) instead of
// cuDNN's backward filter, whose deterministic choice for the ResNet's 28x28x32 -> 64 stride-2
// projection is a one-block kernel (116 us under Nsight Compute on the H200). Off by default:
// measured on an H100 the op fell from 141 to 19 us in bf16 but the ResNet step did not move
// (the side lane hid it; bench/RESULTS.md, twentieth session); KASMINA_CONV_GEMM_WGRAD=1 in the
// environment (read when first asked) or set_gemm_weight_gradients(true) switches it on. Same
// semantics as cuDNN's: fp32 sums (TF32 in tf32 mode on float32 maps), a bf16 dw rounded once. No
// effect on the CPU.
bool gemm_weight_gradients();
void set_gemm_weight_gradients(bool on);

// ---------------------------------------------------------------------------------------------
// Batch normalisation over the rows of an [R, C] matrix (an NHWC map viewed as [N*H*W, C]):
// per channel c, x̂ = (x - mean_c) * rstd_c, y = gamma_c x̂ + beta_c (then ReLU when p.relu).
// Deterministic on CUDA: two-pass column reductions (mean, then the mean of squared deviations).
// bf16: the input side (x, dx) and the output side (y, dy) may each be bf16 instead of float32,
// the per-channel tensors then float32: the values are widened, the statistics, sums and
// arithmetic fp32, a bf16 y or dx rounded once on the store (the CPU twins: the float32 twin on
// the widened maps, rounded).
// ---------------------------------------------------------------------------------------------

// Training forward: mean and the biased variance of the batch normalise x; save_mean and
// save_rstd = 1 / sqrt(var + eps) are kept for the backward; running_mean and running_var are
// updated in place with momentum, running_var from the unbiased variance var * R / (R - 1)
// (PyTorch). R >= 2. x, y [R,C]; gamma, beta, running_*, save_* [C].
KASMINA_OP(void, batchnorm_forward_train,
           (const Tensor& x, const Tensor& gamma, const Tensor& beta, const BatchNormParams& p,
            Tensor& running_mean, Tensor& running_var, Tensor& y, Tensor& save_mean,
            Tensor& save_rstd),
           (x, gamma, beta, p, running_mean, running_var, y, save_mean, save_rstd), x.device())
// Evaluation forward: normalises with the running statistics (nothing is updated).
KASMINA_OP(void, batchnorm_forward_eval,
           (const Tensor& x, const Tensor& gamma, const Tensor& beta, const BatchNormParams& p,
            const Tensor& running_mean, const Tensor& running_var, Tensor& y),
           (x, gamma, beta, p, running_mean, running_var, y), x.device())
// Backward of the training forward: g = dy (masked by y > 0 when p.relu; y is read only then and
// may be undefined otherwise), dbeta = Σ_r g, dgamma = Σ_r g x̂,
// dx = gamma rstd (g - dbeta / R - x̂ dgamma / R). dx [R,C]; dgamma, dbeta [C] (overwritten).
KASMINA_OP(void, batchnorm_backward,
           (const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& gamma,
            const Tensor& save_mean, const Tensor& save_rstd, const BatchNormParams& p, Tensor& dx,
            Tensor& dgamma, Tensor& dbeta),
           (dy, x, y, gamma, save_mean, save_rstd, p, dx, dgamma, dbeta), dy.device())

// ---------------------------------------------------------------------------------------------
// The fused tail of a residual block whose body ends with a batch normalisation (nn/
// residual_block.cpp): the body's normalisation, the skip (the block's input, or a projection
// shortcut's own normalisation), the add and the block's ReLU in one pass, and the identity
// shortcut's gradient. CPU twins: src/ops/cpu/residual_tail.cpp; CUDA: kernels/conv/
// residual_tail.cu.
// ---------------------------------------------------------------------------------------------

// y = act(gamma (x - mean) rstd + beta + s), per channel c of [R, C], act = ReLU when relu,
// s = skip or, when skip_bn is non-null, gamma_s (x_s - mean_s) rstd_s + beta_s (skip is then
// not read and may be undefined). Each normalisation is computed as batchnorm's apply computes
// it, then the sum is one rounded addition. All tensors [R, C] or [C], one dtype and device,
// except that a normalisation's x may be bf16 beside float32 others (a bf16 convolution's
// output, widened exactly). With y16 non-null (a bf16 [R, C] of y's device), y rounded to bf16
// (nearest-even, as cast_to_bf16) is stored there too: the next block's bf16 convolutions read
// it instead of casting y in a pass of their own.
KASMINA_OP(void, batchnorm_residual_forward,
           (const BatchNormTerm& body, const BatchNormTerm* skip_bn, const Tensor& skip, bool relu,
            Tensor& y, Tensor* y16),
           (body, skip_bn, skip, relu, y, y16), y.device())
// dx = (y > 0 ? dy : 0) + g: the gradient reaching an identity shortcut through the block's
// ReLU, plus the body's input gradient g. One rounded addition per element; dx may be g. g may
// be bf16 beside float32 dy, y and dx (a bf16 convolution's input gradient, widened exactly), so
// the sum is the one of the widened copy without the copy.
KASMINA_OP(void, relu_mask_add, (const Tensor& dy, const Tensor& y, const Tensor& g, Tensor& dx),
           (dy, y, g, dx), dx.device())

// ---------------------------------------------------------------------------------------------
// Pooling over square windows of an NHWC map, per channel. x [N,H,W,C], y [N,Ho,Wo,C].
// ---------------------------------------------------------------------------------------------

// Max pooling; padded positions never win (PyTorch). argmax i32 [N,Ho,Wo,C] = h * W + w of the
// winning input position; ties go to the first position in row-major window order (smallest
// h, then smallest w). NaN inputs are not handled specially.
KASMINA_OP(void, maxpool2d_forward,
           (const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax), (x, p, y, argmax),
           x.device())
// dx [N,H,W,C] = Σ over the windows whose argmax is that position of dy (overwritten; a gather
// over the covering windows, deterministic without atomics).
KASMINA_OP(void, maxpool2d_backward,
           (const Tensor& dy, const Tensor& argmax, const Pool2dParams& p, Tensor& dx),
           (dy, argmax, p, dx), dy.device())
// Average pooling with count_include_pad = true (PyTorch's default): every window divides by
// kernel², padded zeros included (with padding <= kernel / 2 and floor output sizes no window
// reaches past the padding, so the divisor is always kernel²).
KASMINA_OP(void, avgpool2d_forward, (const Tensor& x, const Pool2dParams& p, Tensor& y), (x, p, y),
           x.device())
// dx [N,H,W,C] = Σ over the windows covering that position of dy / kernel² (overwritten).
KASMINA_OP(void, avgpool2d_backward, (const Tensor& dy, const Pool2dParams& p, Tensor& dx),
           (dy, p, dx), dy.device())

// Mean over the middle dimension: x [N,S,C] -> y [N,C], y[n,c] = Σ_s x[n,s,c] / S (S >= 1).
// An NHWC map viewed as [N, H*W, C] gives global average pooling; a transformer's tokens
// [B, T, D] give mean pooling over tokens.
KASMINA_OP(void, global_avgpool_forward, (const Tensor& x, Tensor& y), (x, y), x.device())
// dx [N,S,C] = dy[n,c] / S for every s (overwritten).
KASMINA_OP(void, global_avgpool_backward, (const Tensor& dy, Tensor& dx), (dy, dx), dy.device())

}  // namespace kasmina::ops
