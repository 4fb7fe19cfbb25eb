// CPU twin of the fused MLP step's optional first and last parts (ops::MlpStepGather,
// ops::MlpStepUpdate): the step with both equals, bit for bit, the three ops it stands for run
// one after the other (gather_batch, the step, adamw_step or sgd_step), counters included; the
// argument checks of both parts.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "op_test_utils.hpp"
#include "ops/mlp_step_ops.hpp"
#include "tests/ops/mlp_step_tensors.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::random_tensor;

// A 3-layer relu MLP over a uint8 dataset of 40 rows of 24 pixels, batch 6 at cursor 2, and the
// optimizer state of its parameters.
struct World {
  mlp_step_test::MlpStepTensors t;
  Tensor images, labels, perm, counters, step, cursor;
  std::vector<Tensor> m, v;
  std::unique_ptr<MultiTensorPlan> plan;
  MlpStepGather gather;
  MlpStepUpdate update;

  World(bool sgd, uint64_t seed) {
    Rng rng(seed);
    constexpr int64_t kRows = 40, kIn = 24, kBatch = 6;
    std::vector<uint8_t> px(kRows * kIn);
    for (uint8_t& p : px) p = static_cast<uint8_t>(rng.below(256));
    images = Tensor::from_vector(px, {kRows, kIn});
    std::vector<int32_t> lab(kRows), order(kRows);
    for (int32_t& l : lab) l = static_cast<int32_t>(rng.below(5));
    std::iota(order.begin(), order.end(), 0);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    labels = Tensor::from_vector(lab, {kRows});
    perm = Tensor::from_vector(order, {kRows});
    counters = Tensor::from_vector<int64_t>({4, 2}, {2});
    step = counters.rows(0, 1), cursor = counters.rows(1, 2);
    gather = {&images, &labels, &perm, &cursor, 1.0f / 255.0f, -0.5f};
    t.x = Tensor::zeros({kBatch, kIn});
    t.labels = Tensor::zeros({kBatch}, DType::i32);
    int64_t in = kIn;
    std::vector<Tensor> ps, gs;
    for (int64_t out : {16, 9, 5}) {
      t.act.push_back(out == 5 ? Activation::none : Activation::relu);
      t.w.push_back(random_tensor(rng, {out, in}, DType::f32, -0.4, 0.4));
      t.b.push_back(random_tensor(rng, {out}, DType::f32, -0.2, 0.2));
      t.y.push_back(Tensor::empty({kBatch, out}));
      t.dw.push_back(Tensor::empty({out, in}));
      t.db.push_back(Tensor::empty({out}));
      if (out != 5) t.dpre.push_back(Tensor::empty({kBatch, out}));
      for (int k = 0; k < 2; ++k) {
        ps.push_back(k ? t.b.back() : t.w.back());
        gs.push_back(k ? t.db.back() : t.dw.back());
        m.push_back(random_tensor(rng, ps.back().shape(), DType::f32, -1e-3, 1e-3));
        if (!sgd) v.push_back(random_tensor(rng, ps.back().shape(), DType::f32, 1e-8, 1e-5));
      }
      in = out;
    }
    t.dlogits = Tensor::empty({kBatch, 5});
    t.loss_sum = Tensor::zeros({1}, DType::f64);
    t.correct = Tensor::zeros({1}, DType::i64);
    t.grad_scale = 1.0f / kBatch;
    plan = std::make_unique<MultiTensorPlan>(ps, gs, m, v);
    plan->advance_after_step(counters);
    update.plan = plan.get();
    update.sgd = sgd;
    update.sgd_hyper.nesterov = true;
    update.schedule.base_lr = 0.01f;
    update.step = &step;
  }

  MlpStepArgs args(bool with_ends) {
    MlpStepArgs a = t.args();
    if (with_ends) a.gather = &gather, a.update = &update;
    return a;
  }

  // Every tensor the step writes.
  std::vector<Tensor> written() const {
    std::vector<Tensor> out = {t.x, t.labels, t.dlogits, t.loss_sum, t.correct, counters};
    for (const Tensor& p : plan->params()) out.push_back(p);
    for (const Tensor& g : plan->grads()) out.push_back(g);
    out.insert(out.end(), m.begin(), m.end());
    out.insert(out.end(), v.begin(), v.end());
    return out;
  }
};

void expect_bitwise(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].nbytes(), b[i].nbytes()) << "tensor " << i;
    EXPECT_EQ(std::memcmp(a[i].raw(), b[i].raw(), a[i].nbytes()), 0) << "tensor " << i;
  }
}

class CpuMlpStepEnds : public ::testing::TestWithParam<bool> {};

TEST_P(CpuMlpStepEnds, EqualsGatherStepAndOptimizerApart) {
  const bool sgd = GetParam();
  World whole(sgd, 5), apart(sgd, 5);
  mlp_train_step(whole.args(true));
  gather_batch(apart.images, apart.labels, apart.perm, apart.cursor, apart.gather.scale,
               apart.gather.shift, apart.t.x, apart.t.labels);
  mlp_train_step(apart.args(false));
  if (sgd)
    sgd_step(*apart.plan, apart.update.sgd_hyper, apart.update.schedule, apart.step);
  else
    adamw_step(*apart.plan, apart.update.adamw, apart.update.schedule, apart.step);
  expect_bitwise(whole.written(), apart.written());
  EXPECT_EQ(whole.counters.to_vector<int64_t>(), (std::vector<int64_t>{5, 3}));
  // The gathered rows are the dataset's rows perm[2 * 6 + b], scaled and shifted.
  const auto x = whole.t.x.to_vector<float>();
  const auto px = whole.images.to_vector<uint8_t>();
  const auto order = whole.perm.to_vector<int32_t>();
  const int64_t r = order[12 + 3];
  const float scaled = static_cast<float>(px[static_cast<size_t>(r * 24 + 7)]) * (1.0f / 255.0f);
  EXPECT_EQ(x[3 * 24 + 7], scaled - 0.5f);
  EXPECT_EQ(whole.t.labels.to_vector<int32_t>()[3], whole.labels.to_vector<int32_t>()[r]);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, CpuMlpStepEnds, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "sgd" : "adamw"; });

TEST(CpuMlpStepEnds, RejectsIncompleteParts) {
  World w(false, 9);
  MlpStepArgs a = w.args(true);
  MlpStepGather g = w.gather;
  g.perm = nullptr;
  a.gather = &g;
  mlp_step_test::expect_rejected(w.t, a, "perm");
  a = w.args(true);
  MlpStepUpdate u = w.update;
  u.step = nullptr;
  a.update = &u;
  mlp_step_test::expect_rejected(w.t, a, "step counter");
  // Nothing was written by the refused calls.
  EXPECT_EQ(w.counters.to_vector<int64_t>(), (std::vector<int64_t>{4, 2}));
}

}  // namespace
}  // namespace kasmina::ops
