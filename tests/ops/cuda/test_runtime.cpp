// Runtime behaviour of the CUDA engine: device selection errors, graph capture and replay,
// bitwise run-to-run determinism, allocator reuse, and the GEMM epilogue rules.
#include <string>
#include <vector>

#include "kasmina_build_config.hpp"
#include "ops/gemm_route.hpp"
#include "tests/ops/cuda/compare.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/allocator.hpp"
#include "ops/cuda/gemm_options.hpp"
#include "ops/precision_ops.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

using ops::Activation;

class CudaRuntime : public ::testing::Test {
 protected:
  void SetUp() override { KASMINA_REQUIRE_CUDA(); }
};

TEST_F(CudaRuntime, ListsDevicesAndRejectsMissingOnes) {
  const std::vector<ops::CudaDeviceInfo> devices = ops::list_cuda_devices();
  ASSERT_FALSE(devices.empty());
  for (const ops::CudaDeviceInfo& d : devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.cc_major, 5);
    EXPECT_GT(d.multiprocessors, 0);
    EXPECT_GT(d.total_bytes, 0u);
    EXPECT_LE(d.free_bytes, d.total_bytes);
    EXPECT_FALSE(d.runtime_version.empty());
  }
  const int missing = static_cast<int>(devices.size()) + 2;
  try {
    ops::use_device(Device::cuda(missing));
    FAIL() << "use_device(cuda:" << missing << ") did not throw";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cuda:" + std::to_string(missing) + ": no such device"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(std::to_string(devices.size()) + " devices"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(ops::use_device(gpu()));
}

// A small training step: gather a batch, dropout, a fused linear+ReLU, a linear, softmax
// cross-entropy, both backward GEMMs, AdamW, then advance the counters.
struct StepState {
  Tensor images, labels, perm, cursor, step;
  Tensor x, y, xd, mask, w1, b1, h, aux1, w2, b2, logits, dlogits, loss, correct;
  Tensor dh, dw1, db1, dw2, db2, m1, v1, m2, v2, mb1, vb1, mb2, vb2;
  std::unique_ptr<ops::MultiTensorPlan> plan;

  explicit StepState(uint64_t seed) {
    const int64_t n = 64, d = 20, batch = 8, hidden = 33, classes = 5;
    images = random_f32({n, d}, seed).to(gpu());
    std::vector<int32_t> lab(n), order(n);
    for (int64_t i = 0; i < n; ++i) {
      lab[i] = static_cast<int32_t>(i % classes);
      order[i] = static_cast<int32_t>((i * 13) % n);
    }
    labels = on_gpu(Tensor::from_vector(lab, {n}));
    perm = on_gpu(Tensor::from_vector(order, {n}));
    cursor = Tensor::zeros({1}, DType::i64, gpu());
    step = Tensor::zeros({1}, DType::i64, gpu());
    x = Tensor::empty({batch, d}, DType::f32, gpu());
    xd = Tensor::empty({batch, d}, DType::f32, gpu());
    mask = Tensor::empty({batch, d}, DType::u8, gpu());
    y = Tensor::empty({batch}, DType::i32, gpu());
    w1 = random_f32({hidden, d}, seed + 1).to(gpu());
    b1 = random_f32({hidden}, seed + 2).to(gpu());
    w2 = random_f32({classes, hidden}, seed + 3).to(gpu());
    b2 = random_f32({classes}, seed + 4).to(gpu());
    h = Tensor::empty({batch, hidden}, DType::f32, gpu());
    aux1 = ops::make_linear_aux(batch, hidden, Activation::relu, gpu());
    logits = Tensor::empty({batch, classes}, DType::f32, gpu());
    dlogits = Tensor::empty({batch, classes}, DType::f32, gpu());
    loss = Tensor::zeros({1}, DType::f64, gpu());
    correct = Tensor::zeros({1}, DType::i64, gpu());
    dh = Tensor::empty({batch, hidden}, DType::f32, gpu());
    dw1 = Tensor::empty({hidden, d}, DType::f32, gpu());
    db1 = Tensor::empty({hidden}, DType::f32, gpu());
    dw2 = Tensor::empty({classes, hidden}, DType::f32, gpu());
    db2 = Tensor::empty({classes}, DType::f32, gpu());
    std::vector<Tensor> params = {w1, b1, w2, b2}, grads = {dw1, db1, dw2, db2}, m, v;
    for (const Tensor& p : params) {
      m.push_back(Tensor::zeros(p.shape(), DType::f32, gpu()));
      v.push_back(Tensor::zeros(p.shape(), DType::f32, gpu()));
    }
    plan = std::make_unique<ops::MultiTensorPlan>(params, grads, m, v);
  }

  void run() {
    LrSchedule sched;
    sched.type = LrScheduleType::cosine;
    sched.base_lr = 0.01f;
    sched.warmup_steps = 1;
    sched.total_steps = 10;
    ops::gather_batch(images, labels, perm, cursor, 0.5f, 0.1f, x, y);
    ops::dropout_forward(x, 0.2f, 99, 1, step, xd, mask);
    ops::linear_forward(xd, w1, b1, Activation::relu, h, aux1);
    Tensor no_aux;
    ops::linear_forward(h, w2, b2, Activation::none, logits, no_aux);
    ops::softmax_xent(logits, y, 1.0f / 8.0f, &dlogits, loss, &correct);
    ops::linear_backward_weight(dlogits, h, dw2, &db2);
    ops::linear_backward_input(dlogits, w2, Activation::relu, aux1, dh, &db1);
    ops::linear_backward_weight(dh, xd, dw1, nullptr);
    ops::adamw_step(*plan, ops::AdamWHyper{}, sched, step);
    ops::counter_add(step, 1);
    ops::counter_add(cursor, 1);
  }
};

// Two runs of the step agree bit for bit: counters, loss, hits, parameters, dropout mask.
void expect_same_step(const std::string& what, const StepState& got, const StepState& want) {
  EXPECT_TRUE(same(what + " step counter", got.step, want.step));
  EXPECT_TRUE(same(what + " cursor", got.cursor, want.cursor));
  EXPECT_TRUE(bitwise_equal(what + " loss_sum", got.loss, want.loss));
  EXPECT_TRUE(bitwise_equal(what + " correct", got.correct, want.correct));
  EXPECT_TRUE(bitwise_equal(what + " w1", got.w1, want.w1));
  EXPECT_TRUE(bitwise_equal(what + " b1", got.b1, want.b1));
  EXPECT_TRUE(bitwise_equal(what + " w2", got.w2, want.w2));
  EXPECT_TRUE(bitwise_equal(what + " b2", got.b2, want.b2));
  EXPECT_TRUE(bitwise_equal(what + " dropout mask", got.mask, want.mask));
}

TEST_F(CudaRuntime, GraphReplayMatchesPlainLaunches) {
  StepState plain(5), graphed(5);
  const int steps = 4;
  for (int i = 0; i < steps; ++i) plain.run();

  graphed.run();  // warm-up outside the capture (GEMM algorithm choice, scratch buffers)
  ops::StepGraph graph(gpu());
  std::string reason;
  ASSERT_TRUE(graph.capture([&] { graphed.run(); }, &reason)) << "capture failed: " << reason;
  ASSERT_TRUE(graph.captured());
  // Capturing does not run the step.
  EXPECT_EQ(graphed.step.to_vector<int64_t>()[0], 1);
  for (int i = 1; i < steps; ++i) graph.replay();
  ops::synchronize(gpu());
  EXPECT_EQ(graphed.step.to_vector<int64_t>()[0], steps) << "replays must advance the step";
  expect_same_step("graph", graphed, plain);
}

// The step's own kernels (small GEMMs, softmax cross-entropy, the optimizer advancing its
// counters) replayed with programmatic dependent launch give the same bits as plain launches
// without it, with the own GEMMs and with the default route (cuBLASLt between own kernels): a
// kernel that touched memory before its predecessor finished would differ.
TEST_F(CudaRuntime, ProgrammaticLaunchChangesNoBits) {
  const bool before = ops::programmatic_launch(gpu());
  for (ops::GemmPath path : {ops::GemmPath::own, ops::GemmPath::automatic}) {
    SCOPED_TRACE(path == ops::GemmPath::own ? "own GEMMs" : "default GEMM route");
    ops::set_gemm_path(gpu(), path);
    StepState plain(6), graphed(6);
    ops::set_programmatic_launch(gpu(), false);
    for (int i = 0; i < 3; ++i) plain.run();
    ops::set_programmatic_launch(gpu(), true);
    EXPECT_TRUE(ops::programmatic_launch(gpu()));
    graphed.run();
    ops::StepGraph graph(gpu());
    std::string reason;
    ASSERT_TRUE(graph.capture([&] { graphed.run(); }, &reason)) << "capture failed: " << reason;
    for (int i = 1; i < 3; ++i) graph.replay();
    ops::synchronize(gpu());
    expect_same_step("PDL graph", graphed, plain);
  }
  ops::set_programmatic_launch(gpu(), before);
  ops::set_gemm_path(gpu(), ops::GemmPath::automatic);
}

TEST_F(CudaRuntime, FailedCaptureLeavesStreamUsable) {
  ops::StepGraph graph(gpu());
  std::string reason;
  Tensor t = Tensor::zeros({16}, DType::f32, gpu());
  // A step that synchronises the host cannot be captured.
  EXPECT_FALSE(graph.capture([&] { (void)t.to_vector<float>(); }, &reason));
  EXPECT_FALSE(reason.empty());
  ops::fill(t, 2.5);
  const std::vector<float> v = t.to_vector<float>();
  for (float f : v) EXPECT_EQ(f, 2.5f);
}

TEST_F(CudaRuntime, DeterministicModeIsBitwiseReproducible) {
  const int64_t m = 4099, n = 1023, k = 784;
  const Tensor dy = random_f32({m, n}, 1).to(gpu()), w = random_f32({n, k}, 2).to(gpu());
  const Tensor x = random_f32({m, k}, 3).to(gpu());
  const Tensor pre = random_away_from_zero({m, k}, 4).to(gpu());
  // Both GEMM paths: cuBLASLt epilogues and plain GEMM + kasmina's epilogue kernels.
  for (bool fused : {true, false}) {
#if KASMINA_HAS_CUDA
    ops::cuda::set_fused_epilogues(gpu(), fused);
#endif
    const std::string path = fused ? " (cuBLASLt epilogues)" : " (own epilogue kernels)";
    for (Activation act : {Activation::relu, Activation::gelu}) {
      // Saved state from an identity-weight forward of `pre`.
      Tensor eye = Tensor::zeros({k, k});
      for (int64_t i = 0; i < k; ++i) eye.data<float>()[i * k + i] = 1.0f;
      Tensor aux = ops::make_linear_aux(m, k, act, gpu());
      Tensor out = Tensor::empty({m, k}, DType::f32, gpu());
      ops::linear_forward(pre, on_gpu(eye), on_gpu(Tensor::zeros({k})), act, out, aux);
      std::vector<Tensor> runs;
      for (int r = 0; r < 2; ++r) {
        Tensor dx = poisoned({m, k}, DType::f32), dbias = poisoned({k}, DType::f32);
        Tensor dw = poisoned({n, k}, DType::f32), db = poisoned({n}, DType::f32);
        ops::linear_backward_input(dy, w, act, aux, dx, &dbias);
        ops::linear_backward_weight(dy, x, dw, &db);
        runs.insert(runs.end(), {dx, dbias, dw, db});
      }
      const std::string a = ops::activation_name(act);
      EXPECT_TRUE(bitwise_equal("linear_backward_input dx " + a + path, runs[0], runs[4]));
      EXPECT_TRUE(bitwise_equal("linear_backward_input in_dbias " + a + path, runs[1], runs[5]));
      EXPECT_TRUE(bitwise_equal("linear_backward_weight dw" + path, runs[2], runs[6]));
      EXPECT_TRUE(bitwise_equal("linear_backward_weight db" + path, runs[3], runs[7]));
    }
  }
#if KASMINA_HAS_CUDA
  ops::cuda::set_fused_epilogues(gpu(), true);
#endif
  const Tensor gamma = random_f32({k}, 5).to(gpu()), beta = random_f32({k}, 6).to(gpu());
  Tensor y = Tensor::empty({m, k}, DType::f32, gpu()), mean = Tensor::empty({m}, DType::f32, gpu()),
         rstd = Tensor::empty({m}, DType::f32, gpu());
  ops::layernorm_forward(x, gamma, beta, 1e-5f, y, mean, rstd);
  std::vector<Tensor> ln;
  for (int r = 0; r < 2; ++r) {
    Tensor dx = poisoned({m, k}, DType::f32), dg = poisoned({k}, DType::f32),
           db = poisoned({k}, DType::f32);
    ops::layernorm_backward(x, x, gamma, mean, rstd, dx, dg, db);
    ln.insert(ln.end(), {dx, dg, db});
  }
  EXPECT_TRUE(bitwise_equal("layernorm_backward dx", ln[0], ln[3]));
  EXPECT_TRUE(bitwise_equal("layernorm_backward dgamma", ln[1], ln[4]));
  EXPECT_TRUE(bitwise_equal("layernorm_backward dbeta", ln[2], ln[5]));

  std::vector<int32_t> lab(m);
  for (int64_t i = 0; i < m; ++i) lab[i] = static_cast<int32_t>((i * 7) % n);
  const Tensor labels = on_gpu(Tensor::from_vector(lab, {m}));
  std::vector<Tensor> sx;
  for (int r = 0; r < 2; ++r) {
    Tensor loss = Tensor::zeros({1}, DType::f64, gpu()),
           corr = Tensor::zeros({1}, DType::i64, gpu());
    Tensor dl = poisoned({m, n}, DType::f32);
    ops::softmax_xent(dy, labels, 0.5f, &dl, loss, &corr);
    sx.insert(sx.end(), {loss, corr, dl});
  }
  EXPECT_TRUE(bitwise_equal("softmax_xent loss_sum", sx[0], sx[3]));
  EXPECT_TRUE(bitwise_equal("softmax_xent correct", sx[1], sx[4]));
  EXPECT_TRUE(bitwise_equal("softmax_xent dlogits", sx[2], sx[5]));
}

// The weight gradient of a bf16 linear layer by its number of outputs n: up to 16 (10: the
// logits) kasmina's skinny kernel, no cuBLASLt epilogue asked; 20 (dy's leading dimension of 40
// bytes is not 16-byte aligned) cuBLASLt's BGRADB refused by gemm(), the plain GEMM plus column
// sums instead; 24 the epilogue asked for as before. All agree with the CPU twin on the same
// bf16 inputs, and the skinny kernel is bitwise reproducible.
TEST_F(CudaRuntime, Bf16WeightGradientPathsByOutputCount) {
#if KASMINA_HAS_CUDA
  for (const int64_t n : {int64_t{1}, int64_t{10}, int64_t{16}, int64_t{20}, int64_t{24}}) {
    const int64_t rows = 300, in = 67;  // a partial row chunk, an odd column count
    Tensor dy = Tensor::empty({rows, n}, DType::bf16), x = Tensor::empty({rows, in}, DType::bf16);
    ops::cast_to_bf16(random_f32({rows, n}, 31 + static_cast<uint64_t>(n)), dy);
    ops::cast_to_bf16(random_f32({rows, in}, 57 + static_cast<uint64_t>(n)), x);
    Tensor dw_cpu = Tensor::empty({n, in}), db_cpu = Tensor::empty({n});
    ops::linear_backward_weight(dy, x, dw_cpu, &db_cpu);
    const Tensor dy_gpu = dy.to(gpu()), x_gpu = x.to(gpu());
    Tensor dw = Tensor::empty({n, in}, DType::f32, gpu()),
           db = Tensor::empty({n}, DType::f32, gpu());
    const ops::cuda::GemmEpilogueStats before = ops::cuda::gemm_epilogue_stats(gpu());
    ops::linear_backward_weight(dy_gpu, x_gpu, dw, &db);
    const ops::cuda::GemmEpilogueStats after = ops::cuda::gemm_epilogue_stats(gpu());
    const std::string what = "n=" + std::to_string(n);
    EXPECT_TRUE(close("dw, " + what, dw, dw_cpu, kTolF32Reduce));
    EXPECT_TRUE(close("db, " + what, db, db_cpu, kTolF32Reduce));
    if (n <= 16) {
      EXPECT_EQ(after.fused, before.fused) << what;
      EXPECT_EQ(after.unavailable, before.unavailable) << what;
      Tensor dw2 = Tensor::empty({n, in}, DType::f32, gpu());
      Tensor db2 = Tensor::empty({n}, DType::f32, gpu());
      ops::linear_backward_weight(dy_gpu, x_gpu, dw2, &db2);
      EXPECT_TRUE(bitwise_equal("dw run to run, " + what, dw, dw2));
      EXPECT_TRUE(bitwise_equal("db run to run, " + what, db, db2));
    } else if (n == 20) {
      EXPECT_EQ(after.unavailable, before.unavailable + 1) << "BGRADB was not refused";
      EXPECT_EQ(after.fused, before.fused);
    } else {
      EXPECT_EQ(after.fused + after.unavailable, before.fused + before.unavailable + 1) << what;
    }
  }
#else
  GTEST_SKIP() << "no CUDA device: this build has no CUDA support";
#endif
}

TEST_F(CudaRuntime, AllocatorReusesMemory) {
#if KASMINA_HAS_CUDA
  const std::vector<Shape> shapes = {{1}, {1000}, {12345}, {1 << 18}, {3 << 20}, {77, 1023}};
  auto cycle = [&] {
    std::vector<Tensor> live;
    for (const Shape& s : shapes) live.push_back(Tensor::empty(s, DType::f32, gpu()));
    ops::fill(live.back(), 1.0);
  };
  cycle();  // first use may allocate
  const ops::cuda::AllocatorStats before = ops::cuda::allocator_stats(gpu());
  for (int i = 0; i < 100; ++i) cycle();
  const ops::cuda::AllocatorStats after = ops::cuda::allocator_stats(gpu());
  EXPECT_EQ(after.device_mallocs, before.device_mallocs) << "cudaMalloc called while cycling";
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
  EXPECT_EQ(after.requests, before.requests + 100 * static_cast<int64_t>(shapes.size()));
  EXPECT_EQ(after.in_use_bytes, before.in_use_bytes);
#else
  GTEST_SKIP() << "no CUDA device: this build has no CUDA support";
#endif
}

}  // namespace
}  // namespace kasmina::cuda_test
