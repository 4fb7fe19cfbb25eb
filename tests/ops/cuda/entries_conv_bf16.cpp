// Op table entry of the bf16 convolutions (conv_ops.hpp, docs/PRECISION.md "Convolutions"):
// conv2d_forward, conv2d_backward_input and conv2d_backward_weight with bf16 maps and weight
// (cuDNN's PSEUDO_BFLOAT16: bf16 tensor cores, fp32 sums, y / dx / dw stored in bf16; a float32
// bias added by kasmina's kernel and rounded again; db the fp32 sums of the bf16 dy) against the
// CPU emulation (a float32 dw: the bf16 one widened, bit for bit), over odd channel counts,
// strides, paddings, groups, depthwise, 1x1 and the ResNet's shapes at batch 128; run to run
// bitwise in deterministic mode; perf rows at the ResNet's shapes beside the float32 entry's.
//
// Both sides read identical bf16 inputs and sum in fp32, so their fp32 results differ only by
// the order of the sums (and, should cuDNN pick a Winograd or FFT algorithm, by its transform's
// few fp32 roundings); after the one rounding each stored element is the CPU's or one bf16 ulp
// from it, and at most 2% differ (within_one_ulp, compare.hpp). db is float32: kTolF32Reduce.
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "ops/conv_ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/conv_case.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

using ops::bf16_test::to_bf16;

struct Bf16ConvResults {
  Tensor y, dx, dw, db;
  Tensor dw32;  // the same weight gradient into a float32 dw (rounded, then widened)
  Tensor y0;    // the forward without the bias
};

struct Bf16ConvInputs {
  Tensor x, w, b, dy;  // bf16 maps and weight, float32 bias (CPU)
};

Bf16ConvInputs bf16_inputs(const ConvCase& c, uint64_t seed) {
  return {to_bf16(random_f32(c.x(), seed + 1)), to_bf16(random_f32(c.wt(), seed + 2)),
          random_f32({c.cout}, seed + 3), to_bf16(random_f32(c.y(), seed + 4))};
}

Bf16ConvResults run_bf16(const ConvCase& c, const Bf16ConvInputs& in, Device dev) {
  const bool cuda = dev.is_cuda();
  auto out = [&](const Shape& s, DType dt) {
    return cuda ? poisoned(s, dt) : Tensor::empty(s, dt);
  };
  Bf16ConvResults r{out(c.y(), DType::bf16),   out(c.x(), DType::bf16), out(c.wt(), DType::bf16),
                    out({c.cout}, DType::f32), out(c.wt(), DType::f32), out(c.y(), DType::bf16)};
  const Tensor x = in.x.to(dev), w = in.w.to(dev), dy = in.dy.to(dev);
  const Tensor b = c.bias ? in.b.to(dev) : Tensor();
  ops::conv2d_forward(x, w, b, c.params(), r.y);
  ops::conv2d_forward(x, w, Tensor(), c.params(), r.y0);
  ops::conv2d_backward_input(dy, w, c.params(), r.dx);
  ops::conv2d_backward_weight(dy, x, c.params(), r.dw, c.bias ? &r.db : nullptr);
  ops::conv2d_backward_weight(dy, x, c.params(), r.dw32, nullptr);
  return r;
}

void conv_bf16_case(const ConvCase& c) {
  const uint64_t seed = static_cast<uint64_t>(c.n * 1013 + c.cin * 37 + c.cout * 11 + c.k);
  const Bf16ConvInputs in = bf16_inputs(c, seed);
  const Bf16ConvResults cpu = run_bf16(c, in, Device::cpu());
  const Bf16ConvResults cuda = run_bf16(c, in, gpu());
  const std::string what = "conv2d bf16 " + conv_name(c);
  // The convolution's own rounding: within one ulp. A bias then adds a second rounding of the
  // sum (its magnitude may be smaller than the convolution's), so y with a bias must be exactly
  // the device's bias-free y plus the bias, rounded.
  EXPECT_TRUE(within_one_ulp(what + " y without bias", cuda.y0, cpu.y0));
  if (c.bias) {
    const std::vector<float> y0 = ops::bf16_test::widen(cuda.y0).to_vector<float>();
    const std::vector<float> b = in.b.to_vector<float>();
    const std::vector<uint16_t> got = ops::bf16_test::bits(cuda.y);
    int64_t bad = 0;
    for (size_t i = 0; i < y0.size(); ++i) {
      bad += got[i] != float_to_bf16_bits(y0[i] + b[i % static_cast<size_t>(c.cout)]);
    }
    EXPECT_EQ(bad, 0) << what << ": y differs from bf16(y without bias + bias)";
  } else {
    EXPECT_TRUE(within_one_ulp(what + " y", cuda.y, cpu.y));
  }
  EXPECT_TRUE(within_one_ulp(what + " dx", cuda.dx, cpu.dx));
  EXPECT_TRUE(within_one_ulp(what + " dw", cuda.dw, cpu.dw));
  Tensor dw_widened = poisoned(c.wt(), DType::f32);
  ops::cast_from_bf16(cuda.dw, dw_widened);
  EXPECT_TRUE(bitwise_equal(what + " float32 dw = the bf16 dw widened", cuda.dw32, dw_widened));
  if (c.bias) {
    EXPECT_TRUE(close(what + " db", cuda.db, cpu.db, kTolF32Reduce));
  }
  // Deterministic mode (the suite's): the same bits again.
  const Bf16ConvResults again = run_bf16(c, in, gpu());
  EXPECT_TRUE(bitwise_equal(what + " y run to run", again.y, cuda.y));
  EXPECT_TRUE(bitwise_equal(what + " dx run to run", again.dx, cuda.dx));
  EXPECT_TRUE(bitwise_equal(what + " dw run to run", again.dw, cuda.dw));
  if (c.bias) {
    EXPECT_TRUE(bitwise_equal(what + " db run to run", again.db, cuda.db));
  }
}

// The float32 entry's cases (the stage transition among them), and the ResNet's stage 1 and 2
// convolutions at batch 128.
std::vector<ConvCase> conv_bf16_cases() {
  std::vector<ConvCase> out = conv_cases();
  out.push_back({128, 28, 28, 32, 32, 3, 1, 1, 1, false});  // stage 1
  out.push_back({128, 14, 14, 64, 64, 3, 1, 1, 1, false});  // stage 2
  return out;
}

// ---- perf: the ResNet's shapes at batch 128 (the float32 entry times fp32 and tf32) ----

std::vector<op_table::OpCase> conv_bf16_perf_cases() {
  std::vector<op_table::OpCase> out;
  const std::vector<ConvCase> shapes = resnet_conv_shapes();
  for (const ConvCase& c : shapes) {
    out.push_back({conv_name(c), [c] {
                     const Device dev = op_table::perf_device();
                     const Bf16ConvInputs in = bf16_inputs(c, 1);
                     const Tensor x = in.x.to(dev), w = in.w.to(dev), dy = in.dy.to(dev);
                     Tensor y = Tensor::empty(c.y(), DType::bf16, dev);
                     Tensor dx = Tensor::empty(c.x(), DType::bf16, dev);
                     Tensor dw = Tensor::empty(c.wt(), DType::bf16, dev);
                     const std::string shape = str_cat(" ", conv_name(c), " bf16");
                     op_table::time_op("conv2d_forward" + shape, dev,
                                       [&] { ops::conv2d_forward(x, w, Tensor(), c.params(), y); });
                     op_table::time_op("conv2d_backward_input" + shape, dev,
                                       [&] { ops::conv2d_backward_input(dy, w, c.params(), dx); });
                     op_table::time_op("conv2d_backward_weight" + shape, dev, [&] {
                       ops::conv2d_backward_weight(dy, x, c.params(), dw, nullptr);
                     });
                     if (!dev.is_cuda() || c.k != 1) return;
                     with_gemm_wgrad([&] {  // the 1x1 weight gradient as one GEMM
                       op_table::time_op("conv2d_backward_weight" + shape + " gemm", dev, [&] {
                         ops::conv2d_backward_weight(dy, x, c.params(), dw, nullptr);
                       });
                     });
                   }});
  }
  return out;
}

}  // namespace

using op_table::cases_over;
using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(conv2d_bf16) {
  OpTestEntry e;
  e.ops = {"conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"};
  e.correctness = [] {
    std::vector<op_table::OpCase> out = cases_over(conv_bf16_cases(), &conv_name, &conv_bf16_case);
    // The 1x1 weight gradient as one GEMM (conv_gemm.hpp): the same bounds, run to run bitwise.
    for (const ConvCase& c : conv_1x1_cases(true)) {
      out.push_back(
          {"gemm_wgrad_" + conv_name(c), [c] { with_gemm_wgrad([c] { conv_bf16_case(c); }); }});
    }
    return out;
  };
  e.perf = &conv_bf16_perf_cases;
  return e;
}

}  // namespace kasmina::cuda_test
