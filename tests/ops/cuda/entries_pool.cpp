// Op table entries of the pooling ops (max and average pooling over NHWC maps, global average
// pooling over [N,S,C]): CUDA against the CPU twins, float64 finite-difference gradients, perf.
//
// Exactness: max pooling compares values and picks the first maximum on both devices, and both
// backward passes add a position's window gradients in ascending output order (CPU scatter,
// CUDA gather), so y, argmax and dx must match bit for bit (same()); inputs drawn from 5 levels
// make ties common, which checks the tie rule. Average pooling sums the same window in the same
// order, but the CPU compiler may contract the multiply-add of its backward: kTolF32. Global
// average pooling sums in double on the CPU and in float32 on CUDA (S <= 196): kTolF32.
#include <cmath>
#include <string>
#include <vector>

#include "ops/conv_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

struct PoolCase {
  int64_t n, h, w, c, k, stride, padding;
  Shape x() const { return {n, h, w, c}; }
  int64_t out(int64_t in) const { return ops::conv_out_size(in, k, stride, padding); }
  Shape y() const { return {n, out(h), out(w), c}; }
  ops::Pool2dParams params() const { return {.kernel = k, .stride = stride, .padding = padding}; }
};

std::string pool_name(const PoolCase& c) {
  return op_table::shape_name(c.x()) + "_k" + std::to_string(c.k) + "_s" +
         std::to_string(c.stride) + "_p" + std::to_string(c.padding);
}

// Values from {-2, -1, 0, 1, 2}: many ties inside a window.
Tensor quantised(const Shape& s, uint64_t seed) {
  std::vector<float> v = random_f32(s, seed, 0.0f, 5.0f).to_vector<float>();
  for (float& x : v) x = std::floor(x) - 2.0f;
  return Tensor::from_vector(v, s);
}

void maxpool_case(const PoolCase& c) {
  const uint64_t s = static_cast<uint64_t>(c.n * 71 + c.c * 13 + c.k);
  const std::string what = "maxpool2d " + pool_name(c);
  for (bool ties : {false, true}) {
    const Tensor x = ties ? quantised(c.x(), s) : random_f32(c.x(), s);
    const Tensor dy = random_f32(c.y(), s + 1);
    Tensor y_cpu = Tensor::empty(c.y()), am_cpu = Tensor::empty(c.y(), DType::i32),
           dx_cpu = Tensor::empty(c.x());
    ops::maxpool2d_forward(x, c.params(), y_cpu, am_cpu);
    ops::maxpool2d_backward(dy, am_cpu, c.params(), dx_cpu);
    Tensor y_gpu = poisoned(c.y(), DType::f32), am_gpu = poisoned(c.y(), DType::i32),
           dx_gpu = poisoned(c.x(), DType::f32);
    ops::maxpool2d_forward(on_gpu(x), c.params(), y_gpu, am_gpu);
    ops::maxpool2d_backward(on_gpu(dy), am_gpu, c.params(), dx_gpu);
    const std::string tag = what + (ties ? " (ties)" : "");
    EXPECT_TRUE(same(tag + " y", y_gpu, y_cpu));
    EXPECT_TRUE(same(tag + " argmax", am_gpu, am_cpu));
    EXPECT_TRUE(same(tag + " dx", dx_gpu, dx_cpu));
  }
}

void avgpool_case(const PoolCase& c) {
  const uint64_t s = static_cast<uint64_t>(c.n * 73 + c.c * 11 + c.k);
  const Tensor x = random_f32(c.x(), s), dy = random_f32(c.y(), s + 1);
  Tensor y_cpu = Tensor::empty(c.y()), dx_cpu = Tensor::empty(c.x());
  ops::avgpool2d_forward(x, c.params(), y_cpu);
  ops::avgpool2d_backward(dy, c.params(), dx_cpu);
  Tensor y_gpu = poisoned(c.y(), DType::f32), dx_gpu = poisoned(c.x(), DType::f32);
  ops::avgpool2d_forward(on_gpu(x), c.params(), y_gpu);
  ops::avgpool2d_backward(on_gpu(dy), c.params(), dx_gpu);
  const std::string what = "avgpool2d " + pool_name(c);
  EXPECT_TRUE(close(what + " y", y_gpu, y_cpu, kTolF32));
  EXPECT_TRUE(close(what + " dx", dx_gpu, dx_cpu, kTolF32));
}

std::vector<PoolCase> pool_cases() {
  return {{1, 28, 28, 3, 2, 2, 0},   {4, 9, 9, 5, 3, 2, 1}, {2, 7, 8, 7, 3, 1, 1},
          {3, 10, 10, 3, 4, 3, 2},   {2, 5, 5, 1, 1, 1, 0}, {256, 28, 28, 32, 2, 2, 0},
          {128, 14, 14, 64, 3, 2, 1}};
}

struct SeqCase {
  int64_t n, s, c;
};

std::string seq_name(const SeqCase& c) {
  return op_table::dims({{"N", c.n}, {"S", c.s}, {"C", c.c}});
}

void global_avgpool_case(const SeqCase& c) {
  const uint64_t s = static_cast<uint64_t>(c.n * 17 + c.s * 5 + c.c);
  const Tensor x = random_f32({c.n, c.s, c.c}, s, -1.0f, 3.0f), dy = random_f32({c.n, c.c}, s + 1);
  Tensor y_cpu = Tensor::empty({c.n, c.c}), dx_cpu = Tensor::empty({c.n, c.s, c.c});
  ops::global_avgpool_forward(x, y_cpu);
  ops::global_avgpool_backward(dy, dx_cpu);
  Tensor y_gpu = poisoned({c.n, c.c}, DType::f32), dx_gpu = poisoned({c.n, c.s, c.c}, DType::f32);
  ops::global_avgpool_forward(on_gpu(x), y_gpu);
  ops::global_avgpool_backward(on_gpu(dy), dx_gpu);
  const std::string what = "global_avgpool " + seq_name(c);
  EXPECT_TRUE(close(what + " y", y_gpu, y_cpu, kTolF32));
  EXPECT_TRUE(close(what + " dx", dx_gpu, dx_cpu, kTolF32));
}

// ---- gradients (float64, CPU) ----

using namespace op_table;  // NOLINT: the gradient helpers

// Max pooling: distinct random inputs (no ties within the differencing step) and the argmax of
// the unperturbed input.
void pool_gradient(const PoolCase& c, bool max) {
  Rng rng(1700 + static_cast<uint64_t>(c.c * 7 + c.k + max));
  Tensor x = random_f64(rng, c.x());
  const Tensor r = random_f64(rng, c.y());
  Tensor y = Tensor::empty(c.y(), DType::f64), am = Tensor::empty(c.y(), DType::i32);
  const auto loss = [&] {
    if (max) {
      Tensor scratch_am = Tensor::empty(c.y(), DType::i32);
      ops::maxpool2d_forward(x, c.params(), y, scratch_am);
    } else {
      ops::avgpool2d_forward(x, c.params(), y);
    }
    return weighted_sum(y, r);
  };
  Tensor dx = Tensor::empty(c.x(), DType::f64);
  if (max) {
    ops::maxpool2d_forward(x, c.params(), y, am);
    ops::maxpool2d_backward(r, am, c.params(), dx);
  } else {
    ops::avgpool2d_backward(r, c.params(), dx);
  }
  EXPECT_GT(expect_gradient(values(dx), numeric_gradient(x, loss), "dx"), 1e-2);
}

std::vector<op_table::OpCase> pool_gradient_cases() {
  std::vector<op_table::OpCase> out;
  for (const PoolCase& c :
       std::vector<PoolCase>{{2, 5, 5, 3, 2, 2, 0}, {1, 7, 6, 2, 3, 2, 1}, {1, 5, 5, 3, 3, 1, 1}}) {
    for (bool max : {true, false}) {
      out.push_back({(max ? "max_" : "avg_") + pool_name(c), [c, max] { pool_gradient(c, max); }});
    }
  }
  return out;
}

void global_avgpool_gradient(const SeqCase& c) {
  Rng rng(1900 + static_cast<uint64_t>(c.s * 3 + c.c));
  Tensor x = random_f64(rng, {c.n, c.s, c.c});
  const Tensor r = random_f64(rng, {c.n, c.c});
  Tensor y = Tensor::empty({c.n, c.c}, DType::f64), dx = Tensor::empty({c.n, c.s, c.c}, DType::f64);
  const auto loss = [&] {
    ops::global_avgpool_forward(x, y);
    return weighted_sum(y, r);
  };
  ops::global_avgpool_backward(r, dx);
  EXPECT_GT(expect_gradient(values(dx), numeric_gradient(x, loss), "dx"), 1e-2);
}

std::vector<op_table::OpCase> pool_perf_cases() {
  return {{"maxpool_avgpool_N128_H28_W28_C32_k2_s2", [] {
             const Device dev = op_table::perf_device();
             const PoolCase c{128, 28, 28, 32, 2, 2, 0};
             const Tensor x = random_f32(c.x(), 1).to(dev), dy = random_f32(c.y(), 2).to(dev);
             Tensor y = Tensor::empty(c.y(), DType::f32, dev),
                    dx = Tensor::empty(c.x(), DType::f32, dev);
             Tensor am = Tensor::empty(c.y(), DType::i32, dev);
             time_op("maxpool2d_forward 128x28x28x32 k2 s2", dev,
                     [&] { ops::maxpool2d_forward(x, c.params(), y, am); });
             time_op("maxpool2d_backward 128x28x28x32 k2 s2", dev,
                     [&] { ops::maxpool2d_backward(dy, am, c.params(), dx); });
             time_op("avgpool2d_forward 128x28x28x32 k2 s2", dev,
                     [&] { ops::avgpool2d_forward(x, c.params(), y); });
             time_op("avgpool2d_backward 128x28x28x32 k2 s2", dev,
                     [&] { ops::avgpool2d_backward(dy, c.params(), dx); });
           }}};
}

std::vector<op_table::OpCase> global_avgpool_perf_cases() {
  return {{"N128_S49_C128", [] {
             const Device dev = op_table::perf_device();
             const Tensor x = random_f32({128, 49, 128}, 1).to(dev),
                          dy = random_f32({128, 128}, 2).to(dev);
             Tensor y = Tensor::empty({128, 128}, DType::f32, dev);
             Tensor dx = Tensor::empty({128, 49, 128}, DType::f32, dev);
             time_op("global_avgpool_forward 128x49x128", dev,
                     [&] { ops::global_avgpool_forward(x, y); });
             time_op("global_avgpool_backward 128x49x128", dev,
                     [&] { ops::global_avgpool_backward(dy, dx); });
           }}};
}

}  // namespace

// The entry (registered with the op table driver from this file).
using op_table::cases_over;
using op_table::OpCase;
using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(pool2d) {
  OpTestEntry e;
  e.ops = {"maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"};
  e.grad_ops = e.ops;
  e.correctness = [] {
    std::vector<OpCase> out;
    for (const PoolCase& c : pool_cases()) {
      out.push_back({"max_" + pool_name(c), [c] { maxpool_case(c); }});
      out.push_back({"avg_" + pool_name(c), [c] { avgpool_case(c); }});
    }
    return out;
  };
  e.gradients = [] { return pool_gradient_cases(); };
  e.perf = &pool_perf_cases;
  return e;
}

KASMINA_OP_TABLE_ENTRY(global_avgpool) {
  OpTestEntry e;
  e.ops = {"global_avgpool_forward", "global_avgpool_backward"};
  e.grad_ops = e.ops;
  e.correctness = [] {
    return cases_over(
        std::vector<SeqCase>{{1, 1, 1}, {3, 50, 5}, {7, 49, 128}, {128, 196, 64}, {4, 197, 33}},
        &seq_name, &global_avgpool_case);
  };
  e.gradients = [] {
    return cases_over(std::vector<SeqCase>{{2, 3, 4}, {1, 5, 3}, {3, 1, 2}}, &seq_name,
                      &global_avgpool_gradient);
  };
  e.perf = &global_avgpool_perf_cases;
  return e;
}

}  // namespace kasmina::cuda_test
