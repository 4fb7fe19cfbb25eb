// Op table entries of the pointwise ops: standalone activations, dropout, fill, counter_add,
// column_sums and gather_batch (CUDA against the CPU twins), with finite-difference gradients of
// the activations and of dropout.
#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/residual/residual_add.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

using ops::Activation;

const std::vector<Shape>& pointwise_shapes() {
  static const std::vector<Shape> shapes = {{1, 1},      {1, 3},       {7, 10},  {129, 33},
                                            {1000, 784}, {4099, 1023}, {8192, 4}};
  return shapes;
}

using namespace op_table;  // NOLINT: the gradient helpers

// The activation's forward (backward = false) or backward on one shape, every activation.
void activation_case(const Shape& shape, bool backward) {
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    const std::string what = std::string(ops::activation_name(act));
    const Tensor x = random_f32(shape, 11 + shape_numel(shape), -3.0f, 3.0f);
    const Tensor dy = random_f32(shape, 12 + shape_numel(shape));
    if (!backward) {
      Tensor y_cpu = Tensor::empty(shape);
      ops::activation_forward(act, x, y_cpu);
      Tensor y_gpu = poisoned(shape, DType::f32);
      ops::activation_forward(act, on_gpu(x), y_gpu);
      EXPECT_TRUE(close("activation_forward " + what, y_gpu, y_cpu, kTolF32));
    } else {
      Tensor dx_cpu = Tensor::empty(shape);
      ops::activation_backward(act, dy, x, dx_cpu);
      Tensor dx_gpu = poisoned(shape, DType::f32);
      ops::activation_backward(act, on_gpu(dy), on_gpu(x), dx_gpu);
      EXPECT_TRUE(close("activation_backward " + what, dx_gpu, dx_cpu, kTolF32));
    }
  }
}

void dropout_case(const Shape& shape) {
  for (float p : {0.0f, 0.1f, 0.5f, 0.9f}) {
    for (int64_t step : {0, 7}) {
      const std::string what = "dropout p=" + std::to_string(p) + " step=" + std::to_string(step);
      const uint64_t seed = 0x1234567890abcdefULL;
      const uint32_t rng_stream = 3;
      const Tensor x = random_f32(shape, 21 + step);
      const Tensor dy = random_f32(shape, 22 + step);
      const Tensor step_cpu = Tensor::from_vector<int64_t>({step}, {1});
      Tensor y_cpu = Tensor::empty(shape), mask_cpu = Tensor::empty(shape, DType::u8);
      Tensor dx_cpu = Tensor::empty(shape);
      ops::dropout_forward(x, p, seed, rng_stream, step_cpu, y_cpu, mask_cpu);
      ops::dropout_backward(dy, mask_cpu, p, dx_cpu);
      Tensor y_gpu = poisoned(shape, DType::f32), mask_gpu = poisoned(shape, DType::u8);
      Tensor dx_gpu = poisoned(shape, DType::f32);
      ops::dropout_forward(on_gpu(x), p, seed, rng_stream, on_gpu(step_cpu), y_gpu, mask_gpu);
      ops::dropout_backward(on_gpu(dy), mask_gpu, p, dx_gpu);
      EXPECT_TRUE(same(what + " mask", mask_gpu, mask_cpu));
      EXPECT_TRUE(same(what + " y", y_gpu, y_cpu));
      EXPECT_TRUE(same(what + " dx", dx_gpu, dx_cpu));
    }
  }
}

void fill_case(const Shape& shape) {
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    Tensor cpu = Tensor::empty(shape, dt);
    ops::fill(cpu, -37.0);
    Tensor g = poisoned(shape, dt);
    ops::fill(g, -37.0);
    EXPECT_TRUE(same(std::string("fill ") + dtype_name(dt), g, cpu));
  }
}

// (Ran once per pointwise shape in the old suite, with the same inputs every time.)
void counter_add_case() {
  Tensor counter_cpu = Tensor::from_vector<int64_t>({41}, {1});
  Tensor counter_gpu = on_gpu(counter_cpu);
  for (int64_t delta : {1, -5, 1000000007}) {
    ops::counter_add(counter_cpu, delta);
    ops::counter_add(counter_gpu, delta);
  }
  EXPECT_TRUE(same("counter_add", counter_gpu, counter_cpu));
  // A vector of counters, every element advanced by one launch; the largest allowed length.
  std::vector<int64_t> start(static_cast<size_t>(ops::kMaxCounters));
  std::iota(start.begin(), start.end(), -20);
  Tensor many_cpu = Tensor::from_vector<int64_t>(start, {ops::kMaxCounters});
  Tensor many_gpu = on_gpu(many_cpu);
  ops::counter_add(many_cpu, 3);
  ops::counter_add(many_gpu, 3);
  EXPECT_TRUE(same("counter_add vector", many_gpu, many_cpu));
  EXPECT_EQ(many_gpu.to(Device::cpu()).to_vector<int64_t>().back(), ops::kMaxCounters - 20 + 2);
}

void column_sums_case(const Shape& shape) {
  const Tensor x = random_f32(shape, 9000 + static_cast<uint64_t>(shape[0] * 31 + shape[1]));
  Tensor cpu = Tensor::empty({shape[1]});
  ops::column_sums(x, cpu);
  Tensor g = poisoned({shape[1]}, DType::f32);
  ops::column_sums(on_gpu(x), g);
  // Float partial sums on the GPU against a double accumulation: ~sqrt(rows) ulps.
  EXPECT_TRUE(close("column_sums", g, cpu, kTolF32));
  Tensor again = poisoned({shape[1]}, DType::f32);
  ops::column_sums(on_gpu(x), again);
  EXPECT_TRUE(bitwise_equal("column_sums run to run", again, g));
}

std::vector<op_table::OpCase> per_shape(void (*fn)(const Shape&)) {
  return op_table::cases_over(pointwise_shapes(), &shape_name, fn);
}

// ---- gather_batch ----

struct GatherCase {
  int64_t rows, width, batch;
  DType pixels;
};

void gather_case(const GatherCase& c) {
  std::mt19937_64 rng(static_cast<uint64_t>(c.rows * 31 + c.width * 7 + c.batch));
  Tensor images;
  if (c.pixels == DType::u8) {
    std::vector<uint8_t> v(static_cast<size_t>(c.rows * c.width));
    for (uint8_t& p : v) p = static_cast<uint8_t>(rng() & 0xff);
    images = Tensor::from_vector(v, {c.rows, c.width});
  } else {
    images = random_f32({c.rows, c.width}, rng());
  }
  std::vector<int32_t> labels(static_cast<size_t>(c.rows));
  for (int32_t& l : labels) l = static_cast<int32_t>(rng() % 10);
  std::vector<int32_t> perm(static_cast<size_t>(c.rows));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  const Tensor labels_t = Tensor::from_vector(labels, {c.rows});
  const Tensor perm_t = Tensor::from_vector(perm, {c.rows});
  const int64_t batches = c.rows / c.batch;
  for (int64_t cursor : {int64_t{0}, batches - 1}) {
    const std::string what =
        std::string("gather_batch ") + dtype_name(c.pixels) + " rows=" + std::to_string(c.rows) +
        " width=" + std::to_string(c.width) + " batch=" + std::to_string(c.batch) +
        " cursor=" + std::to_string(cursor);
    const Tensor cursor_t = Tensor::from_vector<int64_t>({cursor}, {1});
    Tensor x_cpu = Tensor::empty({c.batch, c.width}), y_cpu = Tensor::empty({c.batch}, DType::i32);
    ops::gather_batch(images, labels_t, perm_t, cursor_t, 1.0f / 255.0f, -0.5f, x_cpu, y_cpu);
    Tensor x_gpu = poisoned({c.batch, c.width}, DType::f32);
    Tensor y_gpu = poisoned({c.batch}, DType::i32);
    ops::gather_batch(on_gpu(images), on_gpu(labels_t), on_gpu(perm_t), on_gpu(cursor_t),
                      1.0f / 255.0f, -0.5f, x_gpu, y_gpu);
    EXPECT_TRUE(same(what + " x", x_gpu, x_cpu));
    EXPECT_TRUE(same(what + " y", y_gpu, y_cpu));
  }
}

std::vector<GatherCase> gather_cases() {
  std::vector<GatherCase> out;
  for (DType px : {DType::u8, DType::f32}) {
    for (int64_t width : {1, 3, 16, 784, 1023}) {
      out.push_back({100, width, 1, px});
      out.push_back({100, width, 7, px});
      out.push_back({9000, width, 8192, px});
    }
  }
  return out;
}

std::vector<op_table::OpCase> gather_case_list() {
  return op_table::cases_over(
      gather_cases(),
      [](const GatherCase& c) {
        return std::string(dtype_name(c.pixels)) + "_W" + std::to_string(c.width) + "_B" +
               std::to_string(c.batch);
      },
      &gather_case);
}

// ---- gradients (float64, CPU) ----

using op_table::expect_gradient;
using op_table::numeric_gradient;
using op_table::values;
using op_table::weighted_sum;

const std::vector<Shape>& gradient_shapes() {
  static const std::vector<Shape> shapes = {{1, 1}, {1, 3}, {6, 7}, {13, 5}};
  return shapes;
}

// activation_backward against differences of activation_forward, inputs 1e-3 away from the kink.
void activation_gradient(const Shape& shape, Activation act) {
  Rng rng(300 + static_cast<uint64_t>(act) + static_cast<uint64_t>(shape_numel(shape)) * 7);
  Tensor x = ops::cpu_test::random_away_from_zero(rng, shape, -3.0, 3.0, 1e-3);
  const Tensor r = op_table::random_f64(rng, shape);
  Tensor y = Tensor::empty(shape, DType::f64);
  const auto loss = [&] {
    ops::activation_forward(act, x, y);
    return weighted_sum(y, r);
  };
  Tensor dx = Tensor::empty(shape, DType::f64);
  ops::activation_backward(act, r, x, dx);
  const double largest = expect_gradient(values(dx), numeric_gradient(x, loss), "dx");
  // ReLU of a single negative input has a zero gradient: nothing to prove there.
  if (!(act == Activation::relu && shape_numel(shape) < 4)) {
    EXPECT_GT(largest, 1e-2);
  }
}

// dropout_backward against differences of dropout_forward (the mask is fixed by seed and step).
void dropout_gradient(const Shape& shape, float p) {
  Rng rng(600 + static_cast<uint64_t>(shape_numel(shape)));
  Tensor x = op_table::random_f64(rng, shape);
  const Tensor r = op_table::random_f64(rng, shape);
  Tensor y = Tensor::empty(shape, DType::f64), mask = Tensor::empty(shape, DType::u8);
  const Tensor step = Tensor::from_vector<int64_t>({3}, {1});
  const auto loss = [&] {
    ops::dropout_forward(x, p, 5, 0, step, y, mask);
    return weighted_sum(y, r);
  };
  loss();
  Tensor dx = Tensor::empty(shape, DType::f64);
  ops::dropout_backward(r, mask, p, dx);
  expect_gradient(values(dx), numeric_gradient(x, loss), "dx");
}

std::vector<op_table::OpCase> activation_gradient_cases() {
  std::vector<op_table::OpCase> out;
  for (const Shape& s : gradient_shapes()) {
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
      out.push_back({shape_name(s) + "_" + ops::activation_name(act),
                     [s, act] { activation_gradient(s, act); }});
    }
  }
  return out;
}

std::vector<op_table::OpCase> dropout_gradient_cases() {
  std::vector<op_table::OpCase> out;
  for (const Shape& s : gradient_shapes()) {
    for (float p : {0.0f, 0.25f, 0.5f}) {
      out.push_back(
          {shape_name(s) + "_p" + op_table::num_name(p), [s, p] { dropout_gradient(s, p); }});
    }
  }
  return out;
}

// ---- perf ----

const std::vector<Shape>& perf_shapes() {
  static const std::vector<Shape> shapes = {{8192, 256}, {4099, 1023}};
  return shapes;
}

// residual_add: one correctly rounded addition per element, so CUDA equals the CPU exactly; also
// in place (out aliasing an input), as residual blocks use it.
void residual_add_case(const Shape& shape) {
  const Tensor a = random_f32(shape, 31 + static_cast<uint64_t>(shape_numel(shape)));
  const Tensor b = random_f32(shape, 32 + static_cast<uint64_t>(shape_numel(shape)));
  Tensor cpu = Tensor::empty(shape);
  ops::residual_add(a, b, cpu);
  Tensor gpu = poisoned(shape, DType::f32);
  ops::residual_add(on_gpu(a), on_gpu(b), gpu);
  EXPECT_TRUE(same("residual_add", gpu, cpu));
  Tensor in_place = on_gpu(a);
  ops::residual_add(in_place, on_gpu(b), in_place);
  EXPECT_TRUE(same("residual_add in place", in_place, cpu));
  // bf16 operands beside a float32 out (a bf16 convolution's input gradient): CUDA equals the
  // CPU, and both equal the float32 sum of the widened copies, bit for bit.
  const Tensor a16 = ops::bf16_test::to_bf16(a), b16 = ops::bf16_test::to_bf16(b);
  const Tensor a16w = ops::bf16_test::widen(a16), b16w = ops::bf16_test::widen(b16);
  const std::pair<const Tensor*, const Tensor*> mixed[][2] = {
      {{&a16, &b}, {&a16w, &b}}, {{&a, &b16}, {&a, &b16w}}, {{&a16, &b16}, {&a16w, &b16w}}};
  for (const auto& [ops16, widened] : mixed) {
    Tensor want = Tensor::empty(shape), cpu16 = Tensor::empty(shape);
    ops::residual_add(*widened.first, *widened.second, want);
    ops::residual_add(*ops16.first, *ops16.second, cpu16);
    EXPECT_TRUE(same("residual_add bf16 operands (CPU)", cpu16, want));
    Tensor gpu16 = poisoned(shape, DType::f32);
    ops::residual_add(on_gpu(*ops16.first), on_gpu(*ops16.second), gpu16);
    EXPECT_TRUE(same("residual_add bf16 operands", gpu16, want));
  }
}

// d/da and d/db of sum(r * (a + b)) against central differences (both are r).
void residual_add_gradient(const Shape& shape) {
  Rng rng(700 + static_cast<uint64_t>(shape_numel(shape)));
  Tensor a = op_table::random_f64(rng, shape), b = op_table::random_f64(rng, shape);
  const Tensor r = op_table::random_f64(rng, shape);
  Tensor out = Tensor::empty(shape, DType::f64);
  auto loss = [&] {
    ops::residual_add(a, b, out);
    return op_table::weighted_sum(out, r);
  };
  const std::vector<double> analytic = op_table::values(r);
  EXPECT_GT(op_table::expect_gradient(analytic, op_table::numeric_gradient(a, loss),
                                      "residual_add da " + shape_name(shape)),
            0.0);
  op_table::expect_gradient(analytic, op_table::numeric_gradient(b, loss),
                            "residual_add db " + shape_name(shape));
}

std::vector<op_table::OpCase> perf_per_shape(
    const char* op, std::function<std::function<void()>(const Shape&, Device)> make) {
  std::vector<op_table::OpCase> out;
  for (const Shape& s : perf_shapes()) {
    out.push_back({shape_name(s), [s, op, make] {
                     const Device dev = op_table::perf_device();
                     const std::function<void()> fn = make(s, dev);
                     op_table::time_op(std::string(op) + " " + shape_name(s), dev, fn);
                   }});
  }
  return out;
}

}  // namespace
}  // namespace kasmina::cuda_test

namespace kasmina::op_table {

using cuda_test::random_f32;

KASMINA_OP_TABLE_ENTRY(activation_forward) {
  OpTestEntry e;
  e.ops = {"activation_forward"};
  e.grad_ops = {"activation_forward", "activation_backward"};
  e.correctness = [] {
    return cuda_test::per_shape([](const Shape& s) { cuda_test::activation_case(s, false); });
  };
  e.gradients = &cuda_test::activation_gradient_cases;
  e.perf = [] {
    return cuda_test::perf_per_shape("activation_forward gelu", [](const Shape& s, Device dev) {
      auto x = std::make_shared<Tensor>(random_f32(s, 1).to(dev));
      auto y = std::make_shared<Tensor>(Tensor::empty(s, DType::f32, dev));
      return [x, y] { ops::activation_forward(ops::Activation::gelu, *x, *y); };
    });
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(activation_backward) {
  OpTestEntry e;
  e.ops = {"activation_backward"};
  e.correctness = [] {
    return cuda_test::per_shape([](const Shape& s) { cuda_test::activation_case(s, true); });
  };
  e.perf = [] {
    return cuda_test::perf_per_shape("activation_backward gelu", [](const Shape& s, Device dev) {
      auto x = std::make_shared<Tensor>(random_f32(s, 1).to(dev));
      auto dy = std::make_shared<Tensor>(random_f32(s, 2).to(dev));
      auto dx = std::make_shared<Tensor>(Tensor::empty(s, DType::f32, dev));
      return [x, dy, dx] { ops::activation_backward(ops::Activation::gelu, *dy, *x, *dx); };
    });
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(dropout) {
  OpTestEntry e;
  e.ops = {"dropout_forward", "dropout_backward"};
  e.grad_ops = {"dropout_forward", "dropout_backward"};
  e.correctness = [] { return cuda_test::per_shape(&cuda_test::dropout_case); };
  e.gradients = &cuda_test::dropout_gradient_cases;
  e.perf = [] {
    return cuda_test::perf_per_shape("dropout_forward p=0.1", [](const Shape& s, Device dev) {
      auto x = std::make_shared<Tensor>(random_f32(s, 1).to(dev));
      auto y = std::make_shared<Tensor>(Tensor::empty(s, DType::f32, dev));
      auto mask = std::make_shared<Tensor>(Tensor::empty(s, DType::u8, dev));
      auto step = std::make_shared<Tensor>(Tensor::zeros({1}, DType::i64, dev));
      return [x, y, mask, step] { ops::dropout_forward(*x, 0.1f, 7, 1, *step, *y, *mask); };
    });
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(fill) {
  OpTestEntry e;
  e.ops = {"fill"};
  e.correctness = [] { return cuda_test::per_shape(&cuda_test::fill_case); };
  e.perf = [] {
    return cuda_test::perf_per_shape("fill f32", [](const Shape& s, Device dev) {
      auto t = std::make_shared<Tensor>(Tensor::empty(s, DType::f32, dev));
      return [t] { ops::fill(*t, 1.5); };
    });
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(counter_add) {
  OpTestEntry e;
  e.ops = {"counter_add"};
  e.correctness = [] {
    return std::vector<OpCase>{{"scalar_and_vector", &cuda_test::counter_add_case}};
  };
  e.perf = [] {
    return std::vector<OpCase>{{"n64", [] {
                                  const Device dev = perf_device();
                                  Tensor c = Tensor::zeros({ops::kMaxCounters}, DType::i64, dev);
                                  time_op("counter_add n=64", dev, [&] { ops::counter_add(c, 1); });
                                }}};
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(column_sums) {
  OpTestEntry e;
  e.ops = {"column_sums"};
  e.correctness = [] { return cuda_test::per_shape(&cuda_test::column_sums_case); };
  e.perf = [] {
    return cuda_test::perf_per_shape("column_sums", [](const Shape& s, Device dev) {
      auto x = std::make_shared<Tensor>(random_f32(s, 1).to(dev));
      auto out = std::make_shared<Tensor>(Tensor::empty({s[1]}, DType::f32, dev));
      return [x, out] { ops::column_sums(*x, *out); };
    });
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(gather_batch) {
  OpTestEntry e;
  e.ops = {"gather_batch"};
  e.correctness = &cuda_test::gather_case_list;
  e.perf = [] {
    return std::vector<OpCase>{{"u8_W784_B8192", [] {
                                  const Device dev = perf_device();
                                  const int64_t n = 9000, d = 784, b = 8192;
                                  Tensor img = Tensor::zeros({n, d}, DType::u8, dev);
                                  Tensor lab = Tensor::zeros({n}, DType::i32, dev);
                                  std::vector<int32_t> p(n);
                                  std::iota(p.begin(), p.end(), 0);
                                  Tensor perm = Tensor::from_vector(p, {n}).to(dev);
                                  Tensor cur = Tensor::zeros({1}, DType::i64, dev);
                                  Tensor x = Tensor::empty({b, d}, DType::f32, dev);
                                  Tensor y = Tensor::empty({b}, DType::i32, dev);
                                  time_op("gather_batch u8 784 x 8192", dev, [&] {
                                    ops::gather_batch(img, lab, perm, cur, 1.0f / 255, 0.0f, x, y);
                                  });
                                }}};
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(residual_add) {
  OpTestEntry e;
  e.ops = {"residual_add"};
  e.grad_ops = {"residual_add"};
  e.correctness = [] { return cuda_test::per_shape(&cuda_test::residual_add_case); };
  e.gradients = [] {
    return cases_over(cuda_test::gradient_shapes(), &shape_name, &cuda_test::residual_add_gradient);
  };
  e.perf = [] {
    return cuda_test::perf_per_shape("residual_add", [](const Shape& s, Device dev) {
      auto a = std::make_shared<Tensor>(random_f32(s, 1).to(dev));
      auto b = std::make_shared<Tensor>(random_f32(s, 2).to(dev));
      auto out = std::make_shared<Tensor>(Tensor::empty(s, DType::f32, dev));
      return [a, b, out] { ops::residual_add(*a, *b, *out); };
    });
  };
  return e;
}

}  // namespace kasmina::op_table
