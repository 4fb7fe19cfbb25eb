// Op table entry of the convolution ops (conv2d_forward, conv2d_backward_input,
// conv2d_backward_weight): cuDNN against the im2col + OpenBLAS CPU twin (odd channel counts,
// strides 1/2, paddings 0/1/2, batch 1 and 256, groups 1/2/depthwise, kernels 1x1/3x3/5x5, one
// input channel: kasmina's direct kernels), TF32 cases, run-to-run bitwise equality in
// deterministic mode, float64 finite-difference gradients, and ResNet-shaped perf cases.
//
// Tolerances (relative L2, compare.hpp): fp32 mode restricts cuDNN to FMA kernels, so both sides
// compute float32 sums of the same products in different orders: forward and input-gradient sums
// have K*K*Cin/groups <= 1152 terms, the weight gradient N*Ho*Wo <= 200704; the relative error of
// such sums stays near eps32 * sqrt(log n) for blocked summation and below ~3e-5 even for a fully
// sequential one (eps32 * sqrt(n) at n = 2e5), hence kTolF32Reduce = 1e-4. Winograd and FFT
// algorithms (if cuDNN's heuristic picks them) add a transform error of a few eps32 per term,
// also far below it. TF32 rounds the inputs to 10-bit mantissas: kTolTf32.
#include <iterator>
#include <string>
#include <vector>

#include "core/env_switch.hpp"
#include "core/str_cat.hpp"
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/conv_case.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

// The CPU twin's results and the CUDA ones for the same inputs.
struct ConvResults {
  Tensor y, dx, dw, db;
};

ConvResults run_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b,
                     const Tensor& dy, Device dev) {
  const bool gpu = dev.is_cuda();
  auto out = [&](const Shape& s) { return gpu ? poisoned(s, DType::f32) : Tensor::empty(s); };
  ConvResults r{out(c.y()), out(c.x()), out(c.wt()), out({c.cout})};
  const Tensor xd = x.to(dev), wd = w.to(dev), dyd = dy.to(dev);
  const Tensor bd = c.bias ? b.to(dev) : Tensor();
  ops::conv2d_forward(xd, wd, bd, c.params(), r.y);
  ops::conv2d_backward_input(dyd, wd, c.params(), r.dx);
  ops::conv2d_backward_weight(dyd, xd, c.params(), r.dw, c.bias ? &r.db : nullptr);
  return r;
}

void conv_case(const ConvCase& c) {
  const uint64_t s = static_cast<uint64_t>(c.n * 1009 + c.cin * 31 + c.cout * 7 + c.k);
  const Tensor x = random_f32(c.x(), s + 1), w = random_f32(c.wt(), s + 2),
               b = random_f32({c.cout}, s + 3), dy = random_f32(c.y(), s + 4);
  const ConvResults cpu = run_conv(c, x, w, b, dy, Device::cpu());
  const ConvResults cuda = run_conv(c, x, w, b, dy, gpu());
  const std::string what = "conv2d " + conv_name(c);
  EXPECT_TRUE(close(what + " y", cuda.y, cpu.y, kTolF32Reduce));
  EXPECT_TRUE(close(what + " dx", cuda.dx, cpu.dx, kTolF32Reduce));
  EXPECT_TRUE(close(what + " dw", cuda.dw, cpu.dw, kTolF32Reduce));
  if (c.bias) {
    EXPECT_TRUE(close(what + " db", cuda.db, cpu.db, kTolF32Reduce));
  }
}

// TF32 tensor cores allowed: looser bound; then back to fp32 (the driver's default).
void conv_tf32_case(const ConvCase& c) {
  ops::set_math_mode(gpu(), ops::MathMode::tf32);
  const Tensor x = random_f32(c.x(), 11), w = random_f32(c.wt(), 12), b = random_f32({c.cout}, 13),
               dy = random_f32(c.y(), 14);
  const ConvResults cpu = run_conv(c, x, w, b, dy, Device::cpu());
  const ConvResults g = run_conv(c, x, w, b, dy, gpu());
  ops::set_math_mode(gpu(), ops::MathMode::fp32);
  const std::string what = "conv2d tf32 " + conv_name(c);
  EXPECT_TRUE(close(what + " y", g.y, cpu.y, kTolTf32));
  EXPECT_TRUE(close(what + " dx", g.dx, cpu.dx, kTolTf32));
  EXPECT_TRUE(close(what + " dw", g.dw, cpu.dw, kTolTf32));
}

// The case with the one-channel direct kernels switched on (ops::direct_stem_kernels), then the
// setting as it was.
template <class Case>
void with_direct_stem(Case run) {
  const ScopedSwitch direct(ops::direct_stem_kernels, ops::set_direct_stem_kernels, true);
  run();
}

// Deterministic mode: two runs give the same bits (the backward-filter algorithms that
// accumulate with atomics are excluded).
void conv_deterministic_case(const ConvCase& c) {
  const Tensor x = random_f32(c.x(), 21), w = random_f32(c.wt(), 22), b = random_f32({c.cout}, 23),
               dy = random_f32(c.y(), 24);
  const ConvResults a = run_conv(c, x, w, b, dy, gpu());
  const ConvResults r = run_conv(c, x, w, b, dy, gpu());
  const std::string what = "conv2d deterministic " + conv_name(c);
  EXPECT_TRUE(bitwise_equal(what + " y", a.y, r.y));
  EXPECT_TRUE(bitwise_equal(what + " dx", a.dx, r.dx));
  EXPECT_TRUE(bitwise_equal(what + " dw", a.dw, r.dw));
  EXPECT_TRUE(bitwise_equal(what + " db", a.db, r.db));
}

// ---- gradients (float64, CPU) ----

using namespace op_table;  // NOLINT: the gradient helpers

void conv_gradient(const ConvCase& c) {
  Rng rng(900 + static_cast<uint64_t>(c.cin * 13 + c.cout * 5 + c.k + c.groups));
  Tensor x = random_f64(rng, c.x()), w = random_f64(rng, c.wt()), b = random_f64(rng, {c.cout});
  const Tensor r = random_f64(rng, c.y());
  Tensor y = Tensor::empty(c.y(), DType::f64);
  const auto loss = [&] {
    ops::conv2d_forward(x, w, b, c.params(), y);
    return weighted_sum(y, r);
  };
  Tensor dx = Tensor::empty(c.x(), DType::f64), dw = Tensor::empty(c.wt(), DType::f64),
         db = Tensor::empty({c.cout}, DType::f64);
  ops::conv2d_backward_input(r, w, c.params(), dx);
  ops::conv2d_backward_weight(r, x, c.params(), dw, &db);
  double largest = expect_gradient(values(dx), numeric_gradient(x, loss), "dx");
  largest = std::max(largest, expect_gradient(values(dw), numeric_gradient(w, loss), "dw"));
  largest = std::max(largest, expect_gradient(values(db), numeric_gradient(b, loss), "db"));
  EXPECT_GT(largest, 1e-2);
}

std::vector<op_table::OpCase> conv_gradient_cases() {
  return op_table::cases_over(std::vector<ConvCase>{{2, 5, 5, 3, 4, 3, 1, 1, 1},
                                                    {1, 6, 7, 4, 6, 3, 2, 2, 2},
                                                    {2, 5, 5, 3, 3, 3, 2, 0, 3},
                                                    {1, 4, 4, 5, 3, 1, 1, 0, 1}},
                              &conv_name, &conv_gradient);
}

// ---- perf: the ResNet's shapes at batch 128 ----

std::vector<op_table::OpCase> conv_perf_cases() {
  std::vector<op_table::OpCase> out;
  std::vector<ConvCase> shapes = resnet_conv_shapes();
  shapes.push_back({128, 28, 28, 1, 32, 3, 1, 1, 1, false});  // the stem
  for (const ConvCase& c : shapes) {
    out.push_back(
        {conv_name(c), [c] {
           const Device dev = op_table::perf_device();
           const Tensor x = random_f32(c.x(), 1).to(dev), w = random_f32(c.wt(), 2).to(dev),
                        dy = random_f32(c.y(), 3).to(dev);
           Tensor y = Tensor::empty(c.y(), DType::f32, dev);
           Tensor dx = Tensor::empty(c.x(), DType::f32, dev);
           Tensor dw = Tensor::empty(c.wt(), DType::f32, dev);
           const std::string shape = str_cat(" ", conv_name(c));
           for (ops::MathMode m : {ops::MathMode::fp32, ops::MathMode::tf32}) {
             if (dev.is_cuda()) ops::set_math_mode(dev, m);
             const std::string mode = m == ops::MathMode::fp32 ? " fp32" : " tf32";
             op_table::time_op("conv2d_forward" + shape + mode, dev,
                               [&] { ops::conv2d_forward(x, w, Tensor(), c.params(), y); });
             op_table::time_op("conv2d_backward_input" + shape + mode, dev,
                               [&] { ops::conv2d_backward_input(dy, w, c.params(), dx); });
             op_table::time_op("conv2d_backward_weight" + shape + mode, dev, [&] {
               ops::conv2d_backward_weight(dy, x, c.params(), dw, nullptr);
             });
             if (!dev.is_cuda()) break;
           }
           if (dev.is_cuda()) ops::set_math_mode(dev, ops::MathMode::fp32);
           if (dev.is_cuda() && c.k == 1) {
             with_gemm_wgrad([&] {  // the 1x1 weight gradient as one GEMM beside cuDNN's
               op_table::time_op("conv2d_backward_weight" + shape + " fp32 gemm", dev, [&] {
                 ops::conv2d_backward_weight(dy, x, c.params(), dw, nullptr);
               });
             });
           }
           if (!dev.is_cuda() || c.cin != 1) return;
           with_direct_stem([&] {  // the stem's direct kernels beside cuDNN's
             op_table::time_op("conv2d_forward" + shape + " direct", dev,
                               [&] { ops::conv2d_forward(x, w, Tensor(), c.params(), y); });
             op_table::time_op("conv2d_backward_weight" + shape + " direct", dev, [&] {
               ops::conv2d_backward_weight(dy, x, c.params(), dw, nullptr);
             });
           });
         }});
  }
  return out;
}

}  // namespace

// The entry (registered with the op table driver from this file).
using op_table::cases_over;
using op_table::OpCase;
using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(conv2d) {
  OpTestEntry e;
  e.ops = {"conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"};
  e.grad_ops = e.ops;
  e.correctness = [] {
    std::vector<OpCase> out = cases_over(conv_cases(), &conv_name, &conv_case);
    const ConvCase tf32{16, 14, 14, 32, 64, 3, 1, 1, 1};
    out.push_back({"tf32_" + conv_name(tf32), [tf32] { conv_tf32_case(tf32); }});
    for (const ConvCase& c :
         {ConvCase{64, 28, 28, 32, 32, 3, 1, 1, 1}, ConvCase{64, 14, 14, 64, 64, 3, 1, 1, 64}}) {
      out.push_back({"deterministic_" + conv_name(c), [c] { conv_deterministic_case(c); }});
    }
    // One input channel on float32 maps with kasmina's direct kernels switched on (k = 7 stays
    // cuDNN's): kernel sizes, strides, paddings, channel counts not a multiple of 4, more than 256
    // channels (two passes of the weight gradient), no bias, the stem in TF32 mode and run to run.
    for (const ConvCase& c :
         {ConvCase{3, 9, 11, 1, 5, 5, 2, 2, 1}, ConvCase{2, 6, 7, 1, 8, 1, 1, 0, 1, false},
          ConvCase{1, 28, 28, 1, 300, 3, 2, 1, 1}, ConvCase{5, 13, 13, 1, 12, 3, 1, 0, 1},
          ConvCase{1, 28, 28, 1, 32, 3, 1, 1, 1, false}, ConvCase{2, 16, 16, 1, 8, 7, 2, 3, 1}}) {
      out.push_back(
          {"one_channel_" + conv_name(c), [c] { with_direct_stem([c] { conv_case(c); }); }});
    }
    // The 1x1 weight gradient as one GEMM (conv_gemm.hpp), in fp32, TF32 and run to run.
    for (const ConvCase& c : conv_1x1_cases(false)) {
      out.push_back(
          {"gemm_wgrad_" + conv_name(c), [c] { with_gemm_wgrad([c] { conv_case(c); }); }});
    }
    const ConvCase projection = conv_1x1_cases(false).back();
    out.push_back({"gemm_wgrad_tf32_" + conv_name(projection), [projection] {
                     with_gemm_wgrad([projection] { conv_tf32_case(projection); });
                   }});
    out.push_back({"gemm_wgrad_deterministic_" + conv_name(projection), [projection] {
                     with_gemm_wgrad([projection] { conv_deterministic_case(projection); });
                   }});
    const ConvCase stem{128, 28, 28, 1, 32, 3, 1, 1, 1};
    out.push_back({"one_channel_tf32_" + conv_name(stem),
                   [stem] { with_direct_stem([stem] { conv_tf32_case(stem); }); }});
    out.push_back({"one_channel_deterministic_" + conv_name(stem),
                   [stem] { with_direct_stem([stem] { conv_deterministic_case(stem); }); }});
    return out;
  };
  e.gradients = &conv_gradient_cases;
  e.perf = &conv_perf_cases;
  return e;
}

}  // namespace kasmina::cuda_test
