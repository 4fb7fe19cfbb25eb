// CPU AdamW and SGD steps against reference trajectories computed here in plain double
// arithmetic, over several steps with warm-up + cosine and linear schedules, for float32 and
// float64 parameters and plans of two tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/bf16.hpp"
#include "op_test_utils.hpp"
#include "ops/backend_ops.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::values;

Tensor make_tensor(const std::vector<double>& v, DType dt) {
  const Shape shape{static_cast<int64_t>(v.size())};
  if (dt == DType::f64) return Tensor::from_vector<double>(v, shape);
  return Tensor::from_vector<float>(std::vector<float>(v.begin(), v.end()), shape);
}

void set_values(Tensor& t, const std::vector<double>& v) {
  if (t.dtype() == DType::f64) {
    for (size_t i = 0; i < v.size(); ++i) t.data<double>()[i] = v[i];
  } else {
    for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = static_cast<float>(v[i]);
  }
}

// Warm-up over 2 steps to 0.1, then cosine to 0.01 at step 6, evaluated independently of lr_at.
LrSchedule warmup_cosine() {
  LrSchedule s;
  s.type = LrScheduleType::cosine;
  s.base_lr = 0.1f;
  s.min_lr = 0.01f;
  s.warmup_steps = 2;
  s.total_steps = 6;
  return s;
}
double warmup_cosine_lr(int64_t step) {
  if (step < 2) return 0.1 * static_cast<double>(step + 1) / 2.0;
  const double p = std::min(1.0, static_cast<double>(step - 2) / 4.0);
  return 0.01 + 0.09 * 0.5 * (1.0 + std::cos(M_PI * p));
}

// Linear decay from 0.05 to 0.005 over 4 steps, no warm-up.
LrSchedule linear_decay() {
  LrSchedule s;
  s.type = LrScheduleType::linear;
  s.base_lr = 0.05f;
  s.min_lr = 0.005f;
  s.warmup_steps = 0;
  s.total_steps = 4;
  return s;
}
double linear_decay_lr(int64_t step) {
  const double p = std::min(1.0, static_cast<double>(step) / 4.0);
  return 0.05 + (0.005 - 0.05) * p;
}

// Gradient of tensor `which` at step `step`: fixed pseudo-random values of order 1.
std::vector<double> gradient_at(int64_t step, int which, size_t count) {
  Rng rng(derive_seed(900, "grad", static_cast<uint64_t>(step * 10 + which)));
  std::vector<double> g(count);
  for (double& x : g) x = rng.uniform(-2.0, 2.0);
  return g;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, DType dt,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  // The schedule's learning rate is a float by contract (lr_at), so even float64 parameters see
  // its rounding (relative 6e-8 of each step's change); float32 adds its own rounding.
  const double tol = dt == DType::f64 ? 5e-8 : 2e-6;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i]))) << what << "[" << i << "]";
  }
}

class CpuOptimizer : public ::testing::TestWithParam<DType> {};

TEST_P(CpuOptimizer, AdamWMatchesHandComputedSteps) {
  const DType dt = GetParam();
  const AdamWHyper h{.beta1 = 0.875f, .beta2 = 0.984375f, .eps = 1e-6f, .weight_decay = 0.0625f};
  const std::vector<std::vector<double>> start = {{0.5, -1.25, 2.0}, {-0.75, 0.125}};
  std::vector<Tensor> params, grads, m, v;
  for (const auto& p0 : start) {
    params.push_back(make_tensor(p0, dt));
    grads.push_back(make_tensor(std::vector<double>(p0.size(), 0.0), dt));
    m.push_back(make_tensor(std::vector<double>(p0.size(), 0.0), dt));
    v.push_back(make_tensor(std::vector<double>(p0.size(), 0.0), dt));
  }
  MultiTensorPlan plan(params, grads, m, v);

  // Reference trajectory in double.
  const double b1 = 0.875, b2 = 0.984375, eps = static_cast<double>(1e-6f), wd = 0.0625;
  std::vector<std::vector<double>> rp = start, rm = {{0, 0, 0}, {0, 0}}, rv = rm;
  Tensor step = Tensor::zeros({1}, DType::i64);
  for (int64_t s = 0; s < 5; ++s) {
    const double lr = warmup_cosine_lr(s);
    const double t = static_cast<double>(s + 1);
    for (int k = 0; k < 2; ++k) {
      const std::vector<double> g = gradient_at(s, k, start[k].size());
      set_values(grads[k], g);  // shares storage with the plan's gradient
      for (size_t i = 0; i < g.size(); ++i) {
        rp[k][i] -= lr * wd * rp[k][i];
        rm[k][i] = b1 * rm[k][i] + (1 - b1) * g[i];
        rv[k][i] = b2 * rv[k][i] + (1 - b2) * g[i] * g[i];
        const double mhat = rm[k][i] / (1 - std::pow(b1, t));
        const double vhat = rv[k][i] / (1 - std::pow(b2, t));
        rp[k][i] -= lr * mhat / (std::sqrt(vhat) + eps);
      }
    }
    const std::vector<double> grad_before = values(plan.grads()[0]);
    cpu::adamw_step(plan, h, warmup_cosine(), step);
    EXPECT_EQ(step.to_vector<int64_t>()[0], s) << "adamw_step must not advance the step";
    EXPECT_EQ(values(plan.grads()[0]), grad_before) << "adamw_step must not modify gradients";
    for (int k = 0; k < 2; ++k) {
      const std::string where = "step " + std::to_string(s) + " tensor " + std::to_string(k);
      expect_close(values(plan.params()[k]), rp[k], dt, "param " + where);
      expect_close(values(plan.m()[k]), rm[k], dt, "m " + where);
      expect_close(values(plan.v()[k]), rv[k], dt, "v " + where);
    }
    cpu::counter_add(step, 1);
  }
}

struct SgdCase {
  bool nesterov;
  float weight_decay;
  bool cosine_schedule;  // warm-up + cosine, else the linear decay
};

void run_sgd_case(DType dt, const SgdCase& c) {
  const SgdHyper h{.momentum = 0.875f, .weight_decay = c.weight_decay, .nesterov = c.nesterov};
  const std::vector<std::vector<double>> start = {{1.0, -0.5, 0.25}, {2.0, -3.0}};
  std::vector<Tensor> params, grads, m;
  for (const auto& p0 : start) {
    params.push_back(make_tensor(p0, dt));
    grads.push_back(make_tensor(std::vector<double>(p0.size(), 0.0), dt));
    // The momentum buffer must not be read on the first step: start it as NaN.
    m.push_back(
        make_tensor(std::vector<double>(p0.size(), std::numeric_limits<double>::quiet_NaN()), dt));
  }
  MultiTensorPlan plan(params, grads, m, {});

  const double mom = 0.875, wd = static_cast<double>(c.weight_decay);
  std::vector<std::vector<double>> rp = start, rm = {{0, 0, 0}, {0, 0}};
  Tensor step = Tensor::zeros({1}, DType::i64);
  for (int64_t s = 0; s < 5; ++s) {
    const double lr = c.cosine_schedule ? warmup_cosine_lr(s) : linear_decay_lr(s);
    for (int k = 0; k < 2; ++k) {
      const std::vector<double> g = gradient_at(s, k + 2, start[k].size());
      set_values(grads[k], g);  // shares storage with the plan's gradient
      for (size_t i = 0; i < g.size(); ++i) {
        const double gd = g[i] + wd * rp[k][i];
        rm[k][i] = s == 0 ? gd : mom * rm[k][i] + gd;
        const double d = c.nesterov ? gd + mom * rm[k][i] : rm[k][i];
        rp[k][i] -= lr * d;
      }
    }
    const std::vector<double> grad_before = values(plan.grads()[1]);
    cpu::sgd_step(plan, h, c.cosine_schedule ? warmup_cosine() : linear_decay(), step);
    EXPECT_EQ(step.to_vector<int64_t>()[0], s) << "sgd_step must not advance the step";
    EXPECT_EQ(values(plan.grads()[1]), grad_before) << "sgd_step must not modify gradients";
    for (int k = 0; k < 2; ++k) {
      const std::string where = "step " + std::to_string(s) + " tensor " + std::to_string(k);
      expect_close(values(plan.params()[k]), rp[k], dt, "param " + where);
      expect_close(values(plan.m()[k]), rm[k], dt, "m " + where);
    }
    cpu::counter_add(step, 1);
  }
}

TEST_P(CpuOptimizer, SgdMomentumMatchesHandComputedSteps) {
  run_sgd_case(GetParam(), {.nesterov = false, .weight_decay = 0.0f, .cosine_schedule = false});
}

TEST_P(CpuOptimizer, SgdNesterovWithWeightDecayMatchesHandComputedSteps) {
  run_sgd_case(GetParam(), {.nesterov = true, .weight_decay = 0.125f, .cosine_schedule = true});
}

TEST_P(CpuOptimizer, SgdMomentumWithWeightDecayMatchesHandComputedSteps) {
  run_sgd_case(GetParam(), {.nesterov = false, .weight_decay = 0.125f, .cosine_schedule = false});
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CpuOptimizer, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(CpuOptimizer, AdamWNeedsSecondMoments) {
  std::vector<Tensor> p = {Tensor::zeros({3})}, g = {Tensor::zeros({3})}, m = {Tensor::zeros({3})};
  MultiTensorPlan plan(p, g, m, {});
  EXPECT_THROW(cpu::adamw_step(plan, AdamWHyper{}, LrSchedule{}, Tensor::zeros({1}, DType::i64)),
               InternalError);
}

// A plan that advances [step, cursor]: the update reads the step before it is advanced, so two
// steps with the plan advancing equal two steps with counter_add after each.
TEST(CpuOptimizer, PlanAdvancesCountersAfterReadingTheStep) {
  const LrSchedule sched = warmup_cosine();
  auto run = [&](bool advance) {
    std::vector<Tensor> p = {make_tensor({0.5, -1.0, 2.0}, DType::f32)};
    std::vector<Tensor> g = {make_tensor({0.1, 0.2, -0.3}, DType::f32)};
    std::vector<Tensor> m = {Tensor::zeros({3})}, v = {Tensor::zeros({3})};
    MultiTensorPlan plan(p, g, m, v);
    Tensor counters = Tensor::from_vector<int64_t>({0, 7}, {2});
    if (advance) plan.advance_after_step(counters);
    for (int i = 0; i < 2; ++i) {
      cpu::adamw_step(plan, AdamWHyper{}, sched, counters.rows(0, 1));
      if (!advance) cpu::counter_add(counters, 1);
    }
    EXPECT_EQ(counters.to_vector<int64_t>(), (std::vector<int64_t>{2, 9}));
    return p[0].to_vector<float>();
  };
  const std::vector<float> advanced = run(true);
  EXPECT_EQ(advanced, run(false));
  EXPECT_NE(advanced, (std::vector<float>{0.5f, -1.0f, 2.0f}));
  // SGD advances the same way.
  std::vector<Tensor> p = {Tensor::zeros({2})}, g = {Tensor::zeros({2})}, m = {Tensor::zeros({2})};
  MultiTensorPlan plan(p, g, m, {});
  Tensor counters = Tensor::from_vector<int64_t>({3}, {1});
  plan.advance_after_step(counters);
  cpu::sgd_step(plan, SgdHyper{}, sched, counters);
  EXPECT_EQ(counters.to_vector<int64_t>(), (std::vector<int64_t>{4}));
  // Counters must be i64 on the plan's device.
  EXPECT_THROW(plan.advance_after_step(Tensor::zeros({2})), InternalError);
}

// bf16 copies kept by the plan: after each step a tensor's copy holds its updated values rounded
// to bf16, bit for bit, and leaves the parameters themselves as a plan without copies leaves
// them; a tensor without a copy has none written. Copies must be bf16 of the parameter's size.
TEST(CpuOptimizer, PlanKeepsBf16CopiesOfTheUpdatedParameters) {
  const LrSchedule sched = warmup_cosine();
  for (bool adam : {true, false}) {
    auto run = [&](bool copies, std::vector<Tensor>* kept) {
      std::vector<Tensor> p = {make_tensor({0.5, -1.0, 2.0, 3.25, -0.001}, DType::f32),
                               make_tensor({1.5, 0.25}, DType::f32)};
      std::vector<Tensor> g = {make_tensor({0.1, 0.2, -0.3, 0.07, 1.1}, DType::f32),
                               make_tensor({-0.4, 0.9}, DType::f32)};
      std::vector<Tensor> m = {Tensor::zeros({5}), Tensor::zeros({2})};
      std::vector<Tensor> v = {Tensor::zeros({5}), Tensor::zeros({2})};
      MultiTensorPlan plan(p, g, m, adam ? v : std::vector<Tensor>{});
      if (copies) {
        *kept = {Tensor::zeros({5}, DType::bf16), Tensor()};
        plan.keep_bf16_copies(*kept);
      }
      for (int i = 0; i < 3; ++i) {
        const Tensor step = Tensor::from_vector<int64_t>({i}, {1});
        if (adam)
          cpu::adamw_step(plan, AdamWHyper{}, sched, step);
        else
          cpu::sgd_step(plan, SgdHyper{}, sched, step);
      }
      return p;
    };
    std::vector<Tensor> copies;
    const std::vector<Tensor> with = run(true, &copies), without = run(false, nullptr);
    for (size_t t = 0; t < 2; ++t)
      EXPECT_EQ(with[t].to_vector<float>(), without[t].to_vector<float>()) << adam << t;
    const std::vector<float> p = with[0].to_vector<float>();
    const std::vector<bf16> c = copies[0].to_vector<bf16>();
    ASSERT_EQ(c.size(), p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_EQ(c[i].bits, float_to_bf16_bits(p[i])) << adam << " " << i;
      EXPECT_NE(c[i].bits, 0) << "written";
    }
  }
  std::vector<Tensor> p = {Tensor::zeros({3})}, g = {Tensor::zeros({3})}, m = {Tensor::zeros({3})};
  MultiTensorPlan plan(p, g, m, {});
  EXPECT_THROW(plan.keep_bf16_copies({Tensor::zeros({3})}), InternalError) << "not bf16";
  EXPECT_THROW(plan.keep_bf16_copies({Tensor::zeros({4}, DType::bf16)}), InternalError) << "size";
  EXPECT_THROW(plan.keep_bf16_copies({Tensor(), Tensor()}), InternalError) << "one per tensor";
}

}  // namespace
}  // namespace kasmina::ops
