// Benchmarks of the engine ops at the shapes of the reference Fashion-MNIST MLP
// (configs/fmnist_mlp.yaml: 784-256-128-10, ReLU, batch 128): the linear layers with their fused
// epilogues forward and backward, softmax cross-entropy, layernorm, the batch gather and the
// fused AdamW step over all of the model's parameters; the linear ops also on bf16 GEMM inputs
// (suffix /bf16).
#include <array>
#include <string>

#include "bench/registry.hpp"
#include "bench/timed_loop.hpp"
#include "ops/gemm_route.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::bench {

namespace {

constexpr int64_t kBatch = 128;
constexpr int64_t kClasses = 10;
constexpr int64_t kImages = 60000;  // Fashion-MNIST training set

struct LinearShape {
  int64_t in, out;
  ops::Activation act;
};
constexpr std::array<LinearShape, 3> kMlp = {{
    {784, 256, ops::Activation::relu},
    {256, 128, ops::Activation::relu},
    {128, 10, ops::Activation::none},
}};

std::string shape_name(const LinearShape& l) {
  return std::to_string(l.in) + "x" + std::to_string(l.out) + "_" + ops::activation_name(l.act);
}

std::string batch_suffix(int64_t b) {
  return "/B" + std::to_string(b);
}

double f32_bytes(double elements) {
  return 4.0 * elements;
}

// The GEMM path of one benchmark (automatic: the route table and rule of ops/gemm_route.hpp).
struct GemmPathScope {
  GemmPathScope(Device dev, ops::GemmPath p) : dev_(dev) { ops::set_gemm_path(dev, p); }
  ~GemmPathScope() { ops::set_gemm_path(dev_, ops::GemmPath::automatic); }
  Device dev_;
};

std::string path_suffix(ops::GemmPath p) {
  return p == ops::GemmPath::automatic ? "" : std::string("/") + ops::gemm_path_name(p);
}

// A bf16 copy of `t` (as the layers' Bf16GemmInputs make them).
Tensor to_bf16(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), DType::bf16, t.device());
  ops::cast_to_bf16(t, out);
  return out;
}

// The saved state (ReLU mask or GELU pre-activation) of the layer before an input-gradient
// benchmark, from a real forward of it (on bf16 copies of its input and weight when `bf16`).
Tensor previous_layer_state(const LinearShape& prev, int64_t batch, Device dev, bool bf16) {
  Tensor px = random_normal({batch, prev.in}, 17, dev);
  Tensor pw = random_normal({prev.out, prev.in}, 18, dev, 0.05);
  if (bf16) {
    px = to_bf16(px);
    pw = to_bf16(pw);
  }
  Tensor pb = random_normal({prev.out}, 19, dev, 0.1);
  Tensor py = Tensor::empty({batch, prev.out}, DType::f32, dev);
  Tensor aux = ops::make_linear_aux(batch, prev.out, prev.act, dev);
  ops::linear_forward(px, pw, pb, prev.act, py, aux);
  return aux;
}

// Each linear op of the MLP at batch 128 and 256, through the path the route picks and through
// cuBLASLt forced (suffix /cublaslt): the measurements behind the route table.
void register_linear(Device dev, int64_t batch, ops::GemmPath path) {
  const std::string tail = batch_suffix(batch) + path_suffix(path);
  for (size_t i = 0; i < kMlp.size(); ++i) {
    const LinearShape l = kMlp[i];
    const double m = static_cast<double>(batch), k = static_cast<double>(l.in),
                 n = static_cast<double>(l.out);
    register_timed("ops/linear_forward/" + shape_name(l) + tail,
                   [dev, l, m, k, n, batch, path](benchmark::State& s) {
                     const GemmPathScope scope(dev, path);
                     Tensor x = random_normal({batch, l.in}, 10, dev);
                     Tensor w = random_normal({l.out, l.in}, 11, dev, 0.05);
                     Tensor b = random_normal({l.out}, 12, dev, 0.1);
                     Tensor y = Tensor::empty({batch, l.out}, DType::f32, dev);
                     Tensor aux = ops::make_linear_aux(batch, l.out, l.act, dev);
                     const double aux_elems = l.act == ops::Activation::none ? 0.0 : m * n;
                     timed_loop(s, [&] { ops::linear_forward(x, w, b, l.act, y, aux); },
                                {.bytes = f32_bytes(m * k + n * k + n + m * n + aux_elems),
                                 .flops = 2.0 * m * n * k});
                   });
    register_timed("ops/linear_backward_weight/" + shape_name(l) + tail,
                   [dev, l, m, k, n, batch, path](benchmark::State& s) {
                     const GemmPathScope scope(dev, path);
                     Tensor dy = random_normal({batch, l.out}, 13, dev);
                     Tensor x = random_normal({batch, l.in}, 14, dev);
                     Tensor dw = Tensor::empty({l.out, l.in}, DType::f32, dev);
                     Tensor db = Tensor::empty({l.out}, DType::f32, dev);
                     timed_loop(s, [&] { ops::linear_backward_weight(dy, x, dw, &db); },
                                {.bytes = f32_bytes(m * n + m * k + n * k + n),
                                 .flops = 2.0 * m * n * k + m * n});
                   });
    if (i == 0) continue;  // the first layer's input is data: no input gradient
    // Input gradient of layer i fusing the ReLU backward and bias gradient of layer i-1.
    const LinearShape prev = kMlp[i - 1];
    register_timed(
        "ops/linear_backward_input/" + std::to_string(l.in) + "x" + std::to_string(l.out) + "_d" +
            ops::activation_name(prev.act) + "_dbias" + tail,
        [dev, l, prev, m, k, n, batch, path](benchmark::State& s) {
          const GemmPathScope scope(dev, path);
          Tensor dy = random_normal({batch, l.out}, 15, dev);
          Tensor w = random_normal({l.out, l.in}, 16, dev, 0.05);
          Tensor aux = previous_layer_state(prev, batch, dev, false);
          Tensor dx = Tensor::empty({batch, l.in}, DType::f32, dev);
          Tensor dbias = Tensor::empty({l.in}, DType::f32, dev);
          timed_loop(
              s, [&] { ops::linear_backward_input(dy, w, prev.act, aux, dx, &dbias); },
              {.bytes = f32_bytes(m * n + n * k + 2.0 * m * k + k), .flops = 2.0 * m * n * k});
        });
  }
}

// The same linear ops on bf16 GEMM inputs (`train.precision: bf16`: bf16 tensor cores, fp32
// sums; outputs, aux and bias gradients fp32), suffix /bf16; their frac_of_peak_flops is
// relative to the run's bf16 GEMM peak. The route sends bf16 inputs to cuBLASLt.
void register_linear_bf16(Device dev, int64_t batch) {
  const std::string tail = batch_suffix(batch) + "/bf16";
  constexpr double kBf16 = 2.0;
  for (size_t i = 0; i < kMlp.size(); ++i) {
    const LinearShape l = kMlp[i];
    const double m = static_cast<double>(batch), k = static_cast<double>(l.in),
                 n = static_cast<double>(l.out);
    register_timed("ops/linear_forward/" + shape_name(l) + tail, [dev, l, m, k, n,
                                                                  batch](benchmark::State& s) {
      Tensor x = to_bf16(random_normal({batch, l.in}, 10, dev));
      Tensor w = to_bf16(random_normal({l.out, l.in}, 11, dev, 0.05));
      Tensor b = random_normal({l.out}, 12, dev, 0.1);
      Tensor y = Tensor::empty({batch, l.out}, DType::f32, dev);
      Tensor aux = ops::make_linear_aux(batch, l.out, l.act, dev);
      const double aux_elems = l.act == ops::Activation::none ? 0.0 : m * n;
      timed_loop(s, [&] { ops::linear_forward(x, w, b, l.act, y, aux); },
                 {.bytes = kBf16 * (m * k + n * k) + f32_bytes(n + m * n + aux_elems),
                  .flops = 2.0 * m * n * k,
                  .math = ops::MathMode::bf16});
    });
    register_timed("ops/linear_backward_weight/" + shape_name(l) + tail,
                   [dev, l, m, k, n, batch](benchmark::State& s) {
                     Tensor dy = to_bf16(random_normal({batch, l.out}, 13, dev));
                     Tensor x = to_bf16(random_normal({batch, l.in}, 14, dev));
                     Tensor dw = Tensor::empty({l.out, l.in}, DType::f32, dev);
                     Tensor db = Tensor::empty({l.out}, DType::f32, dev);
                     timed_loop(s, [&] { ops::linear_backward_weight(dy, x, dw, &db); },
                                {.bytes = kBf16 * (m * n + m * k) + f32_bytes(n * k + n),
                                 .flops = 2.0 * m * n * k + m * n,
                                 .math = ops::MathMode::bf16});
                   });
    if (i == 0) continue;  // the first layer's input is data: no input gradient
    const LinearShape prev = kMlp[i - 1];
    register_timed(
        "ops/linear_backward_input/" + std::to_string(l.in) + "x" + std::to_string(l.out) + "_d" +
            ops::activation_name(prev.act) + "_dbias" + tail,
        [dev, l, prev, m, k, n, batch](benchmark::State& s) {
          Tensor dy = to_bf16(random_normal({batch, l.out}, 15, dev));
          Tensor w = to_bf16(random_normal({l.out, l.in}, 16, dev, 0.05));
          Tensor aux = previous_layer_state(prev, batch, dev, true);
          Tensor dx = Tensor::empty({batch, l.in}, DType::f32, dev);
          Tensor dbias = Tensor::empty({l.in}, DType::f32, dev);
          timed_loop(s, [&] { ops::linear_backward_input(dy, w, prev.act, aux, dx, &dbias); },
                     {.bytes = kBf16 * (m * n + n * k) + f32_bytes(2.0 * m * k + k),
                      .flops = 2.0 * m * n * k,
                      .math = ops::MathMode::bf16});
        });
  }
}

void register_softmax_layernorm_gather(Device dev) {
  register_timed("ops/softmax_xent/B128_C10", [dev](benchmark::State& s) {
    Tensor logits = random_normal({kBatch, kClasses}, 20, dev);
    Tensor labels = random_ints({kBatch}, kClasses, 21, dev);
    Tensor dlogits = Tensor::empty({kBatch, kClasses}, DType::f32, dev);
    Tensor loss = Tensor::zeros({1}, DType::f64, dev);
    Tensor correct = Tensor::zeros({1}, DType::i64, dev);
    timed_loop(s,
               [&] { ops::softmax_xent(logits, labels, 1.0f / kBatch, &dlogits, loss, &correct); },
               {.bytes = f32_bytes(2.0 * kBatch * kClasses + kBatch)});
  });
  constexpr int64_t kLnWidth = 256;
  register_timed("ops/layernorm_forward/M128_N256", [dev](benchmark::State& s) {
    Tensor x = random_normal({kBatch, kLnWidth}, 22, dev);
    Tensor gamma = random_normal({kLnWidth}, 23, dev), beta = random_normal({kLnWidth}, 24, dev);
    Tensor y = Tensor::empty({kBatch, kLnWidth}, DType::f32, dev);
    Tensor mean = Tensor::empty({kBatch}, DType::f32, dev),
           rstd = Tensor::empty({kBatch}, DType::f32, dev);
    timed_loop(s, [&] { ops::layernorm_forward(x, gamma, beta, 1e-5f, y, mean, rstd); },
               {.bytes = f32_bytes(2.0 * kBatch * kLnWidth + 2.0 * kLnWidth + 2.0 * kBatch)});
  });
  register_timed("ops/layernorm_backward/M128_N256", [dev](benchmark::State& s) {
    Tensor x = random_normal({kBatch, kLnWidth}, 25, dev);
    Tensor gamma = random_normal({kLnWidth}, 26, dev), beta = random_normal({kLnWidth}, 27, dev);
    Tensor y = Tensor::empty({kBatch, kLnWidth}, DType::f32, dev);
    Tensor mean = Tensor::empty({kBatch}, DType::f32, dev),
           rstd = Tensor::empty({kBatch}, DType::f32, dev);
    ops::layernorm_forward(x, gamma, beta, 1e-5f, y, mean, rstd);
    Tensor dy = random_normal({kBatch, kLnWidth}, 28, dev);
    Tensor dx = Tensor::empty({kBatch, kLnWidth}, DType::f32, dev);
    Tensor dgamma = Tensor::empty({kLnWidth}, DType::f32, dev),
           dbeta = Tensor::empty({kLnWidth}, DType::f32, dev);
    timed_loop(s, [&] { ops::layernorm_backward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta); },
               {.bytes = f32_bytes(3.0 * kBatch * kLnWidth + 3.0 * kLnWidth + 2.0 * kBatch)});
  });
  register_timed("ops/gather_batch/u8_784/B128", [dev](benchmark::State& s) {
    constexpr int64_t kFeatures = 784;
    std::vector<uint8_t> pixels(static_cast<size_t>(kImages * kFeatures));
    for (size_t i = 0; i < pixels.size(); ++i)
      pixels[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
    Tensor images = Tensor::from_vector(pixels, {kImages, kFeatures}, dev);
    Tensor labels = random_ints({kImages}, kClasses, 29, dev);
    Tensor perm = random_ints({kImages}, static_cast<int32_t>(kImages), 30, dev);
    Tensor cursor = Tensor::zeros({1}, DType::i64, dev);
    Tensor x = Tensor::empty({kBatch, kFeatures}, DType::f32, dev);
    Tensor y = Tensor::empty({kBatch}, DType::i32, dev);
    timed_loop(s, [&] { ops::gather_batch(images, labels, perm, cursor, 1.0f / 255, -0.5f, x, y); },
               {.bytes = kBatch * (kFeatures * 5.0 + 12.0)});
  });
}

// The fused AdamW step over the MLP's parameters; /advancing: the plan also advances the
// trainer's [step, cursor] counters in the same launch (advance_after_step), as a training step
// runs it.
void register_optimizer(Device dev) {
  for (bool advance : {false, true}) {
    register_timed(std::string("ops/adamw_step/fmnist_mlp_params") + (advance ? "/advancing" : ""),
                   [dev, advance](benchmark::State& s) {
                     std::vector<Tensor> params, grads, m, v;
                     uint64_t seed = 40;
                     for (const LinearShape& l : kMlp) {
                       for (const Shape& shape : {Shape{l.out, l.in}, Shape{l.out}}) {
                         params.push_back(random_normal(shape, seed++, dev, 0.05));
                         grads.push_back(random_normal(shape, seed++, dev, 0.01));
                         m.push_back(Tensor::zeros(shape, DType::f32, dev));
                         v.push_back(Tensor::zeros(shape, DType::f32, dev));
                       }
                     }
                     ops::MultiTensorPlan plan(params, grads, m, v);
                     const double n = static_cast<double>(plan.total_elements());
                     LrSchedule sched;
                     sched.type = LrScheduleType::cosine;
                     sched.total_steps = 1000000;
                     Tensor counters = Tensor::zeros({2}, DType::i64, dev);
                     if (advance) plan.advance_after_step(counters);
                     const Tensor step = counters.rows(0, 1);
                     timed_loop(s, [&] { ops::adamw_step(plan, ops::AdamWHyper{}, sched, step); },
                                {.bytes = f32_bytes(7.0 * n), .flops = 16.0 * n});
                   });
  }
}

}  // namespace

void register_engine_op_benchmarks(Device dev) {
  for (int64_t batch : {kBatch, 2 * kBatch})
    for (ops::GemmPath path : {ops::GemmPath::automatic, ops::GemmPath::cublaslt})
      register_linear(dev, batch, path);
  for (int64_t batch : {kBatch, 2 * kBatch}) register_linear_bf16(dev, batch);
  register_softmax_layernorm_gather(dev);
  register_optimizer(dev);
}

}  // namespace kasmina::bench
