// Benchmarks of the convolutional ops at the shapes of the reference ResNet
// (configs/fmnist_resnet.yaml, batch 128):
//
//   ops/conv2d_{forward,backward_input,backward_weight}/<shape>/{tf32,bf16}
//       the three directions of its convolutions (stage 1, 2 and 3, the stride-2 transition and
//       its 1x1 projection shortcut): TF32 tensor cores on float32 maps (`train.precision:
//       tf32`), and bf16 maps and weight with fp32 sums (`train.precision: bf16`); the weight
//       gradient into a float32 dw, as the layers take it; the one-channel stem on float32 maps
//       as .../N128_28x28x1_to_32_k3_s1/tf32 (cuDNN) and, on CUDA, its forward and weight
//       gradient on kasmina's direct kernels as .../direct;
//   ops/batchnorm_{forward_train,backward}/R<rows>_C<channels>_relu/{fp32,bf16}
//       its normalisations with the fused ReLU on float32 maps and on bf16 maps (both sides).
//
// FLOPs: 2 per multiply-add of the convolution (frac_of_peak_flops against the run's TF32 or
// bf16 GEMM peak); bytes: each map and the weight read or written once (the batchnorm passes read
// their input twice: statistics, then the apply or dx).
#include <string>
#include <vector>

#include "bench/registry.hpp"
#include "bench/timed_loop.hpp"
#include "core/env_switch.hpp"
#include "core/str_cat.hpp"
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::bench {

namespace {

constexpr int64_t kResNetBatch = 128;

struct ConvShape {
  int64_t h, cin, cout, k, stride, padding;
  ops::ConvGeometry geometry() const {
    const ops::Conv2dParams p{.stride = stride, .padding = padding};
    return ops::conv_geometry("bench", {kResNetBatch, h, h, cin}, {cout, k, k, cin}, p);
  }
};

const std::vector<ConvShape>& resnet_convolutions() {
  static const std::vector<ConvShape> v = {{28, 32, 32, 3, 1, 1},
                                           {14, 64, 64, 3, 1, 1},
                                           {7, 128, 128, 3, 1, 1},
                                           {28, 32, 64, 3, 2, 1},
                                           {28, 32, 64, 1, 2, 0}};
  return v;
}

std::string resnet_conv_name(const ConvShape& c) {
  return str_cat("N", kResNetBatch, "_", c.h, "x", c.h, "x", c.cin, "_to_", c.cout, "_k", c.k, "_s",
                 c.stride);
}

// The device's math mode for one benchmark (the op's own for bf16 maps: set to bf16 too).
struct ConvMathScope {
  ConvMathScope(Device dev, ops::MathMode m) : dev_(dev), before_(ops::math_mode(dev)) {
    ops::set_math_mode(dev, m);
  }
  ~ConvMathScope() { ops::set_math_mode(dev_, before_); }
  Device dev_;
  ops::MathMode before_;
};

// How a convolution benchmark runs: TF32 tensor cores on float32 maps, bf16 maps, or (a
// one-channel stem) kasmina's direct fp32 kernels (ops::set_direct_stem_kernels).
enum class ConvVariant { tf32, bf16, direct };

// The settings of one benchmark of `v`, restored after it: the math mode, and the direct
// one-channel kernels switched on for ConvVariant::direct and off otherwise (whatever the
// default and the environment say), so that the stem's .../tf32 rows are cuDNN's.
struct ConvScope {
  ConvScope(Device dev, ConvVariant v, ops::MathMode m)
      : math(dev, m),
        direct(ops::direct_stem_kernels, ops::set_direct_stem_kernels, v == ConvVariant::direct) {}
  ConvMathScope math;
  ScopedSwitch direct;
};

// A random map of `shape` in the benchmark's storage type.
Tensor conv_map_of(const Shape& shape, uint64_t seed, Device dev, bool bf16, double scale = 1.0) {
  const Tensor f = random_normal(shape, seed, dev, scale);
  if (!bf16) return f;
  Tensor out = Tensor::empty(shape, DType::bf16, dev);
  ops::cast_to_bf16(f, out);
  return out;
}

// The directions of one convolution in variant `v` (direct: the forward and the weight gradient,
// the input gradient stays cuDNN's), as ops/conv2d_<direction>/<shape>/<variant>.
void register_conv_directions(Device dev, const ConvShape& c, ConvVariant v) {
  const ops::ConvGeometry g = c.geometry();
  const bool bf16 = v == ConvVariant::bf16;
  const double macs = static_cast<double>(g.n * g.ho * g.wo * g.cout * g.k * g.k * g.cin);
  const double xs = static_cast<double>(g.n * g.h * g.w * g.cin);
  const double ys = static_cast<double>(g.n * g.ho * g.wo * g.cout);
  const double ws = static_cast<double>(g.cout * g.k * g.k * g.cin);
  const double e = bf16 ? 2.0 : 4.0;  // bytes per element of the maps and the weight
  const ops::MathMode math = bf16                     ? ops::MathMode::bf16
                             : v == ConvVariant::tf32 ? ops::MathMode::tf32
                                                      : ops::MathMode::fp32;
  const char* name = bf16 ? "/bf16" : v == ConvVariant::tf32 ? "/tf32" : "/direct";
  const std::string tail = str_cat("/", resnet_conv_name(c), name);
  const ops::Conv2dParams p{.stride = c.stride, .padding = c.padding};
  register_timed("ops/conv2d_forward" + tail, [=](benchmark::State& s) {
    const ConvScope scope(dev, v, math);
    const Tensor x = conv_map_of(g.x_shape(), 1, dev, bf16),
                 w = conv_map_of(g.w_shape(), 2, dev, bf16, 0.05);
    Tensor y = Tensor::empty(g.y_shape(), bf16 ? DType::bf16 : DType::f32, dev);
    timed_loop(s, [&] { ops::conv2d_forward(x, w, Tensor(), p, y); },
               {.bytes = e * (xs + ws + ys), .flops = 2.0 * macs, .math = math});
  });
  if (v != ConvVariant::direct) {
    register_timed("ops/conv2d_backward_input" + tail, [=](benchmark::State& s) {
      const ConvScope scope(dev, v, math);
      const Tensor dy = conv_map_of(g.y_shape(), 3, dev, bf16),
                   w = conv_map_of(g.w_shape(), 2, dev, bf16, 0.05);
      Tensor dx = Tensor::empty(g.x_shape(), bf16 ? DType::bf16 : DType::f32, dev);
      timed_loop(s, [&] { ops::conv2d_backward_input(dy, w, p, dx); },
                 {.bytes = e * (ys + ws + xs), .flops = 2.0 * macs, .math = math});
    });
  }
  register_timed("ops/conv2d_backward_weight" + tail, [=](benchmark::State& s) {
    const ConvScope scope(dev, v, math);
    const Tensor dy = conv_map_of(g.y_shape(), 3, dev, bf16),
                 x = conv_map_of(g.x_shape(), 1, dev, bf16);
    Tensor dw = Tensor::empty(g.w_shape(), DType::f32, dev);
    timed_loop(s, [&] { ops::conv2d_backward_weight(dy, x, p, dw, nullptr); },
               {.bytes = e * (ys + xs) + 4.0 * ws, .flops = 2.0 * macs, .math = math});
  });
}

void register_batchnorm_directions(Device dev, int64_t rows, int64_t cols, bool bf16) {
  const std::string tail = str_cat("/R", rows, "_C", cols, "_relu", bf16 ? "/bf16" : "/fp32");
  const double n = static_cast<double>(rows * cols), e = bf16 ? 2.0 : 4.0;
  const DType maps = bf16 ? DType::bf16 : DType::f32;
  const ops::BatchNormParams p{.relu = true};
  register_timed("ops/batchnorm_forward_train" + tail, [=](benchmark::State& s) {
    const Tensor x = conv_map_of({rows, cols}, 4, dev, bf16);
    const Tensor gamma = random_normal({cols}, 5, dev, 0.1), beta = random_normal({cols}, 6, dev);
    Tensor rm = Tensor::zeros({cols}, DType::f32, dev), rv = Tensor::zeros({cols}, DType::f32, dev);
    Tensor mean = Tensor::empty({cols}, DType::f32, dev);
    Tensor rstd = Tensor::empty({cols}, DType::f32, dev);
    Tensor y = Tensor::empty({rows, cols}, maps, dev);
    timed_loop(s, [&] { ops::batchnorm_forward_train(x, gamma, beta, p, rm, rv, y, mean, rstd); },
               {.bytes = e * 3.0 * n, .flops = 10.0 * n});
  });
  register_timed("ops/batchnorm_backward" + tail, [=](benchmark::State& s) {
    const Tensor x = conv_map_of({rows, cols}, 4, dev, bf16),
                 dy = conv_map_of({rows, cols}, 7, dev, bf16);
    const Tensor gamma = random_normal({cols}, 5, dev, 0.1), beta = random_normal({cols}, 6, dev);
    Tensor rm = Tensor::zeros({cols}, DType::f32, dev), rv = Tensor::zeros({cols}, DType::f32, dev);
    Tensor mean = Tensor::empty({cols}, DType::f32, dev);
    Tensor rstd = Tensor::empty({cols}, DType::f32, dev);
    Tensor y = Tensor::empty({rows, cols}, maps, dev), dx = Tensor::empty({rows, cols}, maps, dev);
    Tensor dg = Tensor::empty({cols}, DType::f32, dev), db = Tensor::empty({cols}, DType::f32, dev);
    ops::batchnorm_forward_train(x, gamma, beta, p, rm, rv, y, mean, rstd);
    timed_loop(s, [&] { ops::batchnorm_backward(dy, x, y, gamma, mean, rstd, p, dx, dg, db); },
               {.bytes = e * 7.0 * n, .flops = 12.0 * n});
  });
}

}  // namespace

void register_conv_op_benchmarks(Device dev) {
  for (ConvVariant v : {ConvVariant::tf32, ConvVariant::bf16}) {
    for (const ConvShape& c : resnet_convolutions()) register_conv_directions(dev, c, v);
  }
  const ConvShape stem{28, 1, 32, 3, 1, 1};  // float32 maps only
  register_conv_directions(dev, stem, ConvVariant::tf32);
  if (dev.is_cuda()) register_conv_directions(dev, stem, ConvVariant::direct);
  for (bool bf16 : {false, true}) {
    register_batchnorm_directions(dev, kResNetBatch * 28 * 28, 32, bf16);
    register_batchnorm_directions(dev, kResNetBatch * 14 * 14, 64, bf16);
    register_batchnorm_directions(dev, kResNetBatch * 7 * 7, 128, bf16);
  }
}

}  // namespace kasmina::bench
