// The bf16 convolutions' CPU twins (conv_ops.hpp, docs/PRECISION.md "Convolutions"): x, w, y /
// dy, w, dx / dy, x, dw in bf16, fp32 sums, each stored result rounded once (a bias: once more).
//  - against a direct convolution in double over the same bf16 inputs: every stored value
//    within the bound of one rounding after an fp32 sum, |v - s| <= u (|s| + g) + g with
//    u = 2^-8 and g = gamma_K sum|terms| (gamma_K = K 2^-24 / (1 - K 2^-24)), and nearly all
//    of them the double result rounded to nearest-even (a truncating or a double-precision
//    rounding would move far more);
//  - the emulation the GPU comparison relies on: the float32 twin on the widened inputs, its
//    results rounded, bit for bit; the bias added to the rounded y in fp32 and rounded again;
//  - the dtype rules: all maps of a call bf16, bias and db float32, dw bf16 or float32 (the
//    rounded gradient widened).
// And cast_from_bf16's CPU twin: every bf16 bit pattern widened exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/bf16.hpp"
#include "core/rng.hpp"
#include "ops/conv_ops.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cpu/direct_conv.hpp"

namespace kasmina::ops {
namespace {

using namespace bf16_test;  // NOLINT: random_f32, to_bf16, widen, bits
using conv_test::Case;
using conv_test::Direct;
using conv_test::name;

std::vector<double> widened(const Tensor& t) {
  std::vector<double> out;
  for (const bf16 v : t.to_vector<bf16>()) out.push_back(v.to_float());
  return out;
}

double gamma(int64_t terms) {
  const double k = static_cast<double>(terms) * std::ldexp(1.0, -24);
  return k / (1.0 - k);
}

// Every stored value within one rounding of the fp32 sum's bound, and at least 95% of them the
// exact value rounded to nearest-even.
void expect_rounded(const Tensor& got, const std::vector<double>& exact,
                    const std::vector<double>& abs_sum, int64_t terms, const std::string& what) {
  const std::vector<double> v = widened(got);
  ASSERT_EQ(v.size(), exact.size()) << what;
  const double u = std::ldexp(1.0, -8), gk = gamma(terms);
  size_t nearest = 0;
  double largest = 0.0;
  for (size_t i = 0; i < v.size(); ++i) {
    const double g = gk * abs_sum[i];
    ASSERT_LE(std::abs(v[i] - exact[i]), u * (std::abs(exact[i]) + g) + g)
        << what << " at " << i << ": " << v[i] << " vs " << exact[i];
    nearest += round_to_bf16(static_cast<float>(exact[i])) == static_cast<float>(v[i]);
    largest = std::max(largest, std::abs(exact[i]));
  }
  EXPECT_GE(static_cast<double>(nearest), 0.95 * static_cast<double>(v.size())) << what;
  EXPECT_GT(largest, 0.1) << what << ": the reference is all but zero";
}

struct Bf16Conv {
  Tensor x, w, b, dy;        // bf16 maps, float32 bias
  Tensor y, y_bias, dx, dw;  // bf16 results
  Tensor db;                 // float32
};

Bf16Conv run(const Case& c) {
  Rng rng(300 + static_cast<uint64_t>(c.cin * 7 + c.cout * 3 + c.k + c.groups));
  const Direct d(c);
  const Shape xs{c.n, c.h, c.w, c.cin}, ws{c.cout, c.k, c.k, c.cin / c.groups},
      ys{c.n, d.ho, d.wo, c.cout};
  Bf16Conv r;
  r.x = to_bf16(random_f32(rng, xs));
  r.w = to_bf16(random_f32(rng, ws));
  r.b = random_f32(rng, {c.cout});
  r.dy = to_bf16(random_f32(rng, ys));
  r.y = Tensor::empty(ys, DType::bf16);
  r.y_bias = Tensor::empty(ys, DType::bf16);
  r.dx = Tensor::empty(xs, DType::bf16);
  r.dw = Tensor::empty(ws, DType::bf16);
  r.db = Tensor::empty({c.cout});
  const Conv2dParams p{.stride = c.stride, .padding = c.padding, .groups = c.groups};
  conv2d_forward(r.x, r.w, Tensor(), p, r.y);
  conv2d_forward(r.x, r.w, r.b, p, r.y_bias);
  conv2d_backward_input(r.dy, r.w, p, r.dx);
  conv2d_backward_weight(r.dy, r.x, p, r.dw, &r.db);
  return r;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> v = {
      {2, 7, 6, 3, 5, 3, 1, 1, 1}, {3, 9, 9, 5, 7, 3, 2, 1, 1},   {2, 8, 8, 4, 6, 1, 2, 0, 2},
      {2, 5, 5, 7, 7, 3, 2, 2, 7}, {4, 8, 8, 16, 16, 3, 1, 1, 1}, {2, 10, 10, 8, 24, 1, 2, 0, 1},
  };
  return v;
}

TEST(CpuConv2dBf16, StoredValuesAreTheRoundedSumsOfTheBf16Inputs) {
  for (const Case& c : cases()) {
    const Bf16Conv r = run(c);
    const Direct d(c);
    const std::vector<double> xv = widened(r.x), wv = widened(r.w), dyv = widened(r.dy);
    std::vector<double> y(dyv.size(), 0.0), ya(dyv.size(), 0.0), dx(xv.size(), 0.0),
        dxa(xv.size(), 0.0), dw(wv.size(), 0.0), dwa(wv.size(), 0.0);
    d.terms([&](int64_t yi, int64_t xi, int64_t wi) {
      y[yi] += xv[xi] * wv[wi];
      ya[yi] += std::abs(xv[xi] * wv[wi]);
      dx[xi] += dyv[yi] * wv[wi];
      dxa[xi] += std::abs(dyv[yi] * wv[wi]);
      dw[wi] += dyv[yi] * xv[xi];
      dwa[wi] += std::abs(dyv[yi] * xv[xi]);
    });
    const int64_t k = c.k * c.k * c.cin / c.groups;
    expect_rounded(r.y, y, ya, k, name(c) + " y");
    expect_rounded(r.dx, dx, dxa, k * c.cout, name(c) + " dx");
    expect_rounded(r.dw, dw, dwa, c.n * d.ho * d.wo, name(c) + " dw");
    // db: the fp32 sum of the bf16 dy values per output channel.
    const std::vector<float> db = r.db.to_vector<float>();
    for (int64_t o = 0; o < c.cout; ++o) {
      double s = 0.0, a = 0.0;
      for (size_t i = static_cast<size_t>(o); i < dyv.size(); i += static_cast<size_t>(c.cout)) {
        s += dyv[i];
        a += std::abs(dyv[i]);
      }
      EXPECT_NEAR(db[static_cast<size_t>(o)], s, 1e-6 * (1.0 + a)) << name(c) << " db " << o;
    }
  }
}

TEST(CpuConv2dBf16, IsTheFloatTwinOnWidenedInputsRoundedOnce) {
  for (const Case& c : cases()) {
    const Bf16Conv r = run(c);
    const Conv2dParams p{.stride = c.stride, .padding = c.padding, .groups = c.groups};
    const Tensor xf = widen(r.x), wf = widen(r.w), dyf = widen(r.dy);
    Tensor y = Tensor::empty(r.y.shape()), dx = Tensor::empty(r.dx.shape()),
           dw = Tensor::empty(r.dw.shape()), db = Tensor::empty({c.cout});
    conv2d_forward(xf, wf, Tensor(), p, y);
    conv2d_backward_input(dyf, wf, p, dx);
    conv2d_backward_weight(dyf, xf, p, dw, &db);
    EXPECT_EQ(bits(r.y), bits(to_bf16(y))) << name(c) << " y";
    EXPECT_EQ(bits(r.dx), bits(to_bf16(dx))) << name(c) << " dx";
    EXPECT_EQ(bits(r.dw), bits(to_bf16(dw))) << name(c) << " dw";
    Tensor dw32 = Tensor::empty(r.dw.shape());  // a float32 dw: the rounded gradient, widened
    conv2d_backward_weight(r.dy, r.x, p, dw32, nullptr);
    EXPECT_EQ(dw32.to_vector<float>(), widen(r.dw).to_vector<float>()) << name(c) << " f32 dw";
    EXPECT_EQ(r.db.to_vector<float>(), db.to_vector<float>()) << name(c) << " db";
    // The bias: added in fp32 to the stored y and rounded again (as cuDNN's output plus
    // kasmina's bias kernel).
    const std::vector<bf16> y0 = r.y.to_vector<bf16>(), yb = r.y_bias.to_vector<bf16>();
    const std::vector<float> b = r.b.to_vector<float>();
    size_t moved = 0;
    for (size_t i = 0; i < y0.size(); ++i) {
      const float want = y0[i].to_float() + b[i % static_cast<size_t>(c.cout)];
      ASSERT_EQ(yb[i].bits, bf16::from_float(want).bits) << name(c) << " y + bias at " << i;
      moved += yb[i].bits != y0[i].bits;
    }
    EXPECT_GT(moved, y0.size() / 2) << name(c) << ": the bias changed almost nothing";
  }
}

TEST(CpuConv2dBf16, DtypeRules) {
  const Tensor x = Tensor::zeros({1, 4, 4, 2}, DType::bf16), w = Tensor::zeros({3, 3, 3, 2});
  const Tensor w16 = Tensor::zeros({3, 3, 3, 2}, DType::bf16);
  Tensor y = Tensor::empty({1, 2, 2, 3}, DType::bf16);
  const Conv2dParams p{};
  EXPECT_THROW(conv2d_forward(x, w, Tensor(), p, y), InternalError);  // w float32
  EXPECT_THROW(conv2d_forward(x, w16, Tensor::zeros({3}, DType::bf16), p, y),
               InternalError);  // a bf16 bias
  Tensor y32 = Tensor::empty({1, 2, 2, 3});
  EXPECT_THROW(conv2d_forward(x, w16, Tensor(), p, y32), InternalError);  // y float32
  conv2d_forward(x, w16, Tensor::zeros({3}), p, y);                       // float32 bias: fine
  Tensor dw = Tensor::empty({3, 3, 3, 2}, DType::bf16), dw32 = Tensor::empty({3, 3, 3, 2});
  Tensor db = Tensor::empty({3}), db16 = Tensor::empty({3}, DType::bf16);
  EXPECT_THROW(conv2d_backward_weight(y, x, p, dw, &db16), InternalError);
  Tensor dw64 = Tensor::empty({3, 3, 3, 2}, DType::f64);
  EXPECT_THROW(conv2d_backward_weight(y, x, p, dw64, &db), InternalError);
  conv2d_backward_weight(y, x, p, dw32, &db);  // a float32 dw is allowed
  conv2d_backward_weight(y, x, p, dw, &db);
  Tensor dx32 = Tensor::empty({1, 4, 4, 2});
  EXPECT_THROW(conv2d_backward_input(y, w16, p, dx32), InternalError);
}

TEST(CpuCastFromBf16, WidensEveryBitPatternExactly) {
  std::vector<bf16> v(65536);
  for (size_t i = 0; i < v.size(); ++i) v[i].bits = static_cast<uint16_t>(i);
  const Tensor src = Tensor::from_vector(v, {65536});
  Tensor dst = Tensor::empty({256, 256});
  cast_from_bf16(src, dst);
  const std::vector<float> got = dst.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(bit_copy<uint32_t>(got[i]), static_cast<uint32_t>(i) << 16) << i;
  }
  Tensor wrong = Tensor::empty({65536}, DType::bf16), short_dst = Tensor::empty({100});
  EXPECT_THROW(cast_from_bf16(src, wrong), InternalError);
  EXPECT_THROW(cast_from_bf16(src, short_dst), InternalError);
  EXPECT_THROW(cast_from_bf16(dst, wrong), InternalError);  // src float32
}

}  // namespace
}  // namespace kasmina::ops
