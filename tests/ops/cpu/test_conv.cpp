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
#include "tests/ops/cpu/direct_conv.hpp"

namespace kasmina::ops {
namespace {

using conv_test::Case;
using conv_test::Direct;
using conv_test::name;
using cpu_test::random_tensor;
using cpu_test::values;

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
