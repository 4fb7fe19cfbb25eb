// CPU conv2d twins (im2col + OpenBLAS) against a naive direct convolution in double written
// here from the definition (not the im2col path): forward, input gradient and weight/bias
// gradients, over strides, paddings, groups (depthwise included) and odd channel counts.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "op_test_utils.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::random_tensor;
using cpu_test::values;

struct Case {
  int64_t n, h, w, cin, cout, k, stride, padding, groups;
};

// x[n,ih,iw,c] with zero outside the image.
struct Direct {
  Case c;
  int64_t ho, wo;
  explicit Direct(const Case& cs)
      : c(cs),
        ho(conv_out_size(cs.h, cs.k, cs.stride, cs.padding)),
        wo(conv_out_size(cs.w, cs.k, cs.stride, cs.padding)) {}
  int64_t xi(int64_t n, int64_t h, int64_t w, int64_t ch) const {
    return ((n * c.h + h) * c.w + w) * c.cin + ch;
  }
  int64_t yi(int64_t n, int64_t h, int64_t w, int64_t o) const {
    return ((n * ho + h) * wo + w) * c.cout + o;
  }
  int64_t wi(int64_t o, int64_t i, int64_t j, int64_t ch) const {
    return ((o * c.k + i) * c.k + j) * (c.cin / c.groups) + ch;
  }
  // Calls fn(y index, x index, w index) for every product term of the convolution.
  template <class Fn>
  void terms(Fn&& fn) const {
    const int64_t cg = c.cin / c.groups, og = c.cout / c.groups;
    for (int64_t n = 0; n < c.n; ++n)
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow)
          for (int64_t o = 0; o < c.cout; ++o)
            for (int64_t i = 0; i < c.k; ++i)
              for (int64_t j = 0; j < c.k; ++j) {
                const int64_t ih = oh * c.stride - c.padding + i;
                const int64_t iw = ow * c.stride - c.padding + j;
                if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
                for (int64_t ch = 0; ch < cg; ++ch) {
                  fn(yi(n, oh, ow, o), xi(n, ih, iw, (o / og) * cg + ch), wi(o, i, j, ch));
                }
              }
  }
};

std::string name(const Case& c) {
  return str_cat("N", c.n, " H", c.h, " W", c.w, " Cin", c.cin, " Cout", c.cout, " k", c.k, " s",
                 c.stride, " p", c.padding, " g", c.groups);
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double largest = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    largest = std::max(largest, std::abs(want[i]));
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::abs(want[i]))) << what << " at " << i;
  }
  EXPECT_GT(largest, 0.1) << what << ": the reference is all but zero";
}

void check_case(const Case& c, DType dt, double tol) {
  Rng rng(17 + static_cast<uint64_t>(c.cin * 7 + c.cout * 3 + c.k + c.groups));
  const Direct d(c);
  const Shape xs{c.n, c.h, c.w, c.cin}, ws{c.cout, c.k, c.k, c.cin / c.groups},
      ys{c.n, d.ho, d.wo, c.cout};
  const Tensor x = random_tensor(rng, xs, dt), w = random_tensor(rng, ws, dt),
               b = random_tensor(rng, {c.cout}, dt), dy = random_tensor(rng, ys, dt);
  const std::vector<double> xv = values(x), wv = values(w), bv = values(b), dyv = values(dy);

  std::vector<double> y_ref(static_cast<size_t>(shape_numel(ys)));
  for (size_t i = 0; i < y_ref.size(); ++i) y_ref[i] = bv[i % static_cast<size_t>(c.cout)];
  std::vector<double> dx_ref(xv.size(), 0.0), dw_ref(wv.size(), 0.0), db_ref(bv.size(), 0.0);
  d.terms([&](int64_t yi, int64_t xi, int64_t wi) {
    y_ref[yi] += xv[xi] * wv[wi];
    dx_ref[xi] += dyv[yi] * wv[wi];
    dw_ref[wi] += dyv[yi] * xv[xi];
  });
  for (size_t i = 0; i < dyv.size(); ++i) db_ref[i % static_cast<size_t>(c.cout)] += dyv[i];

  const Conv2dParams p{.stride = c.stride, .padding = c.padding, .groups = c.groups};
  Tensor y = Tensor::empty(ys, dt), dx = Tensor::empty(xs, dt), dw = Tensor::empty(ws, dt),
         db = Tensor::empty({c.cout}, dt);
  conv2d_forward(x, w, b, p, y);
  conv2d_backward_input(dy, w, p, dx);
  conv2d_backward_weight(dy, x, p, dw, &db);
  expect_near_all(values(y), y_ref, tol, name(c) + " y");
  expect_near_all(values(dx), dx_ref, tol, name(c) + " dx");
  expect_near_all(values(dw), dw_ref, tol, name(c) + " dw");
  expect_near_all(values(db), db_ref, tol, name(c) + " db");

  // Without a bias: y is the bias-free sum; dw is the same without db.
  Tensor y0 = Tensor::empty(ys, dt), dw0 = Tensor::empty(ws, dt);
  conv2d_forward(x, w, Tensor(), p, y0);
  conv2d_backward_weight(dy, x, p, dw0, nullptr);
  std::vector<double> y0_ref = y_ref;
  for (size_t i = 0; i < y0_ref.size(); ++i) y0_ref[i] -= bv[i % static_cast<size_t>(c.cout)];
  expect_near_all(values(y0), y0_ref, tol, name(c) + " y without bias");
  expect_near_all(values(dw0), dw_ref, tol, name(c) + " dw without db");
}

const std::vector<Case>& cases() {
  static const std::vector<Case> v = {
      {1, 5, 5, 1, 1, 3, 1, 0, 1},   {2, 7, 6, 3, 5, 3, 1, 1, 1}, {3, 9, 9, 5, 7, 3, 2, 1, 1},
      {2, 8, 8, 4, 6, 1, 2, 0, 2},   {1, 6, 7, 6, 6, 3, 1, 1, 6}, {2, 5, 5, 7, 7, 3, 2, 2, 7},
      {1, 10, 10, 3, 4, 5, 3, 2, 1}, {2, 4, 4, 6, 9, 2, 2, 0, 3},
  };
  return v;
}

TEST(CpuConv2d, Float64MatchesDirectConvolution) {
  for (const Case& c : cases()) check_case(c, DType::f64, 1e-12);
}

TEST(CpuConv2d, Float32MatchesDirectConvolution) {
  for (const Case& c : cases()) check_case(c, DType::f32, 2e-5);
}

TEST(CpuConv2d, KnownValues) {
  // 1 image 3x3, 1 channel, 2x2 kernel of ones, stride 1, padding 0: window sums.
  const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1});
  const Tensor w = Tensor::from_vector<double>({1, 1, 1, 1}, {1, 2, 2, 1});
  Tensor y = Tensor::empty({1, 2, 2, 1}, DType::f64);
  conv2d_forward(x, w, Tensor::from_vector<double>({0.5}, {1}), Conv2dParams{}, y);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{12.5, 16.5, 24.5, 28.5}));
}

TEST(CpuConv2d, ShapeMismatchesAreErrors) {
  const Tensor x = Tensor::zeros({1, 4, 4, 6});
  Tensor y = Tensor::empty({1, 2, 2, 4});
  // Cin/groups = 3 but w has 2 input channels.
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({4, 3, 3, 2}), Tensor(), {.groups = 2}, y),
               InternalError);
  // Non-square kernel.
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({4, 3, 2, 6}), Tensor(), {}, y), InternalError);
  // Wrong output shape.
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({4, 3, 3, 6}), Tensor(), {.padding = 1}, y),
               InternalError);
  // Kernel larger than the padded input.
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({4, 5, 5, 6}), Tensor(), {}, y), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
