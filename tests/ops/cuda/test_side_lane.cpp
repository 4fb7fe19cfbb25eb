// The side lane (src/ops/cuda/side_lane.hpp): inside an ops::OffPathScope the parameter-gradient
// ops run on a second stream, and the results are bitwise those of one stream, plainly and
// replayed from a captured graph; the work really leaves the device's stream, and closing the
// scope joins it back.
#include <string>
#include <vector>

#include "kasmina_build_config.hpp"
#include "ops/conv_ops.hpp"
#include "ops/ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/device_context.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

// A backward through four pre-norm blocks of a small transformer MLP (layernorm -> linear ->
// linear), shaped like the ViT's rows: each layer's input gradient feeds the next (the
// critical path), the weight, bias and layernorm-parameter gradients only the optimizer.
struct Chain {
  static constexpr int kBlocks = 4;
  static constexpr int64_t kRows = 1537, kWidth = 96, kHidden = 160;
  Tensor dy, x[kBlocks], h[kBlocks], w1[kBlocks], w2[kBlocks], gamma[kBlocks];
  Tensor mean[kBlocks], rstd[kBlocks], ln_out[kBlocks];
  Tensor dh[kBlocks], dln[kBlocks], dx[kBlocks];
  Tensor dw1[kBlocks], db1[kBlocks], dw2[kBlocks], db2[kBlocks], dgamma[kBlocks], dbeta[kBlocks];

  explicit Chain(uint64_t seed) {
    const Device g = gpu();
    dy = random_f32({kRows, kWidth}, seed).to(g);
    for (int b = 0; b < kBlocks; ++b) {
      const uint64_t s = seed + 10 * static_cast<uint64_t>(b + 1);
      x[b] = random_f32({kRows, kWidth}, s).to(g);
      h[b] = random_f32({kRows, kHidden}, s + 1).to(g);
      w1[b] = random_f32({kHidden, kWidth}, s + 2, -0.2f, 0.2f).to(g);
      w2[b] = random_f32({kWidth, kHidden}, s + 3, -0.2f, 0.2f).to(g);
      gamma[b] = random_f32({kWidth}, s + 4, 0.5f, 1.5f).to(g);
      const Tensor beta = random_f32({kWidth}, s + 5).to(g);
      mean[b] = Tensor::empty({kRows}, DType::f32, g);
      rstd[b] = Tensor::empty({kRows}, DType::f32, g);
      ln_out[b] = Tensor::empty({kRows, kWidth}, DType::f32, g);
      ops::layernorm_forward(x[b], gamma[b], beta, 1e-5f, ln_out[b], mean[b], rstd[b]);
      dh[b] = Tensor::empty({kRows, kHidden}, DType::f32, g);
      dln[b] = Tensor::empty({kRows, kWidth}, DType::f32, g);
      dx[b] = Tensor::empty({kRows, kWidth}, DType::f32, g);
      dw1[b] = Tensor::empty({kHidden, kWidth}, DType::f32, g);
      db1[b] = Tensor::empty({kHidden}, DType::f32, g);
      dw2[b] = Tensor::empty({kWidth, kHidden}, DType::f32, g);
      db2[b] = Tensor::empty({kWidth}, DType::f32, g);
      dgamma[b] = Tensor::empty({kWidth}, DType::f32, g);
      dbeta[b] = Tensor::empty({kWidth}, DType::f32, g);
    }
    ops::synchronize(g);
  }

  void backward() {
    Tensor g = dy;
    for (int b = kBlocks; b-- > 0;) {
      ops::linear_backward_weight(g, h[b], dw2[b], &db2[b]);
      ops::linear_backward_input(g, w2[b], ops::Activation::none, Tensor(), dh[b], nullptr);
      ops::linear_backward_weight(dh[b], ln_out[b], dw1[b], &db1[b]);
      ops::linear_backward_input(dh[b], w1[b], ops::Activation::none, Tensor(), dln[b], nullptr);
      ops::layernorm_backward(dln[b], x[b], gamma[b], mean[b], rstd[b], dx[b], dgamma[b], dbeta[b]);
      g = dx[b];
    }
  }

  std::vector<const Tensor*> outputs() const {
    std::vector<const Tensor*> out;
    for (int b = 0; b < kBlocks; ++b) {
      for (const Tensor* t :
           {&dh[b], &dln[b], &dx[b], &dw1[b], &db1[b], &dw2[b], &db2[b], &dgamma[b], &dbeta[b]})
        out.push_back(t);
    }
    return out;
  }
};

void expect_same(const std::string& what, const Chain& got, const Chain& want) {
  const std::vector<const Tensor*> a = got.outputs(), b = want.outputs();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(what + " output " + std::to_string(i), *a[i], *b[i]));
  }
}

class SideLane : public ::testing::Test {
 protected:
  void SetUp() override { KASMINA_REQUIRE_CUDA(); }
};

TEST_F(SideLane, OffPathScopeChangesNoBitsPlainOrGraphed) {
  Chain one_stream(7), plain(7), graphed(7);
  one_stream.backward();
  ops::synchronize(gpu());
  {
    ops::OffPathScope scope(gpu());
    plain.backward();
    scope.close();
  }
  ops::synchronize(gpu());
  expect_same("off path, plain", plain, one_stream);

  const auto step = [&] {
    ops::OffPathScope scope(gpu());
    graphed.backward();
    scope.close();
  };
  step();  // plain first: lazy set-up (GEMM algorithms, the lane) outside the capture
  ops::StepGraph graph(gpu());
  std::string reason;
  ASSERT_TRUE(graph.capture(step, &reason)) << "capture failed: " << reason;
  for (int i = 0; i < 2; ++i) graph.replay();
  ops::synchronize(gpu());
  expect_same("off path, graph replay", graphed, one_stream);
}

// Three 3x3 convolutions backwards (NHWC, 16 -> 24 -> 24 -> 16 channels, the middle one with
// stride 2): the cuDNN weight gradients (and bias gradients) on the side lane's own handle, the
// input gradients on the device's stream; bitwise those of one stream, plainly and replayed.
struct ConvChain {
  static constexpr int kLayers = 3;
  Tensor dy, x[kLayers], w[kLayers], dx[kLayers], dw[kLayers], db[kLayers];
  ops::Conv2dParams p[kLayers];

  explicit ConvChain(uint64_t seed) {
    const Device g = gpu();
    const int64_t n = 6, ch[kLayers + 1] = {16, 24, 24, 16}, side[kLayers + 1] = {20, 20, 10, 10};
    for (int l = 0; l < kLayers; ++l) {
      const uint64_t s = seed + 10 * static_cast<uint64_t>(l + 1);
      p[l].stride = side[l] / side[l + 1];
      p[l].padding = 1;
      x[l] = random_f32({n, side[l], side[l], ch[l]}, s).to(g);
      w[l] = random_f32({ch[l + 1], 3, 3, ch[l]}, s + 1, -0.3f, 0.3f).to(g);
      dx[l] = Tensor::empty({n, side[l], side[l], ch[l]}, DType::f32, g);
      dw[l] = Tensor::empty({ch[l + 1], 3, 3, ch[l]}, DType::f32, g);
      db[l] = Tensor::empty({ch[l + 1]}, DType::f32, g);
    }
    dy = random_f32({n, side[kLayers], side[kLayers], ch[kLayers]}, seed).to(g);
    ops::synchronize(g);
  }

  void backward() {
    Tensor g = dy;
    for (int l = kLayers; l-- > 0;) {
      ops::conv2d_backward_weight(g, x[l], p[l], dw[l], &db[l]);
      ops::conv2d_backward_input(g, w[l], p[l], dx[l]);
      g = dx[l];
    }
  }

  void expect_same(const std::string& what, const ConvChain& want) const {
    for (int l = 0; l < kLayers; ++l) {
      const std::string at = what + " layer " + std::to_string(l);
      EXPECT_TRUE(bitwise_equal(at + " dx", dx[l], want.dx[l]));
      EXPECT_TRUE(bitwise_equal(at + " dw", dw[l], want.dw[l]));
      EXPECT_TRUE(bitwise_equal(at + " db", db[l], want.db[l]));
    }
  }
};

TEST_F(SideLane, ConvolutionWeightGradientsOffPath) {
  ConvChain one_stream(21), plain(21), graphed(21);
  one_stream.backward();
  const auto off_path = [](ConvChain& c) {
    ops::OffPathScope scope(gpu());
    c.backward();
    scope.close();
  };
  off_path(plain);
  ops::synchronize(gpu());
  plain.expect_same("off path, plain", one_stream);
  off_path(graphed);
  ops::StepGraph graph(gpu());
  std::string reason;
  ASSERT_TRUE(graph.capture([&] { off_path(graphed); }, &reason)) << "capture failed: " << reason;
  graph.replay();
  ops::synchronize(gpu());
  graphed.expect_same("off path, graph replay", one_stream);
}

#if KASMINA_HAS_CUDA
// The weight-gradient launches leave the device's stream while a scope is open (the lane
// exists, work is pending on it) and the last close joins them; a nested scope does not join.
TEST_F(SideLane, ForksInsideScopesAndJoinsAtTheLastClose) {
  ops::cuda::DeviceContext& ctx = ops::cuda::context(gpu());
  if (!ctx.side_stream) GTEST_SKIP() << "KASMINA_SIDE_STREAM=0 in the environment";
  Chain chain(11);
  chain.backward();  // no scope: stays on the device's stream
  EXPECT_FALSE(ctx.side_pending);
  const cudaStream_t main_stream = ctx.stream;
  ops::OffPathScope outer(gpu());
  {
    ops::OffPathScope inner(gpu());
    chain.backward();
    EXPECT_TRUE(ctx.side_pending);
    EXPECT_NE(ctx.side.stream, nullptr);
    EXPECT_EQ(ctx.stream, main_stream);  // swapped back after every launch
    EXPECT_FALSE(ctx.on_side);
  }
  EXPECT_TRUE(ctx.side_pending);  // the inner scope was not the last one
  outer.close();
  EXPECT_FALSE(ctx.side_pending);
  outer.close();  // closing twice is harmless
  ops::synchronize(gpu());
}
#endif

}  // namespace
}  // namespace kasmina::cuda_test
