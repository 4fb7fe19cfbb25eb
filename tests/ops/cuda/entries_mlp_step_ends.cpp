// Op table entry of the fused MLP step's first and last phases (mlp_train_step with an
// ops::MlpStepGather and an ops::MlpStepUpdate): the batch gathered inside the kernel against the
// CPU twin's gather (exactly: both round each operation alike), the step's outputs as in
// entries_mlp_step.cpp, and the optimizer's update against the CPU optimizer applied to the
// gradients the kernel computed (the update is elementwise, so any difference is the update's;
// compared on the CPU's gradients instead, AdamW's first step would turn rounding-level gradient
// differences near zero into differences of a whole learning rate). The counters (step and
// cursor) must advance exactly once per step. AdamW and SGD (Nesterov, first and later steps),
// uint8 and float32 images, vectorised and scalar rows, a zero-row batch. Graph replay: one plain
// launch and two replays equal three plain launches bitwise, and the third batch is the one at
// the advanced cursor. Perf cases time the whole step against its three launches.
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/mlp_step_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/mlp_step_problem.hpp"
#include "tests/ops/cuda/op_table.hpp"
#include "tests/ops/mlp_step_tensors.hpp"

namespace kasmina::cuda_test {
namespace {

using namespace mlp_problem;

struct EndsCase {
  std::string name;
  MlpCase mlp;
  bool gather = true, u8 = true, update = true, sgd = false;
  int64_t taken = 0;  // the step counter before the step
};

std::string ends_name(const EndsCase& c) {
  return c.name;
}

constexpr int64_t kCursor = 1;  // the batch index the first step gathers

// The dataset, order, counters and optimizer state of a case, on the CPU.
struct Source {
  Tensor images, labels, perm;
  float scale = 1.0f, shift = 0.0f;
  std::vector<Tensor> m, v;  // per parameter (w, then b, of each layer in order)
};

Source make_source(const EndsCase& c, const Problem* p) {
  const uint64_t s = seed_of(c.name) + 7;
  const int64_t rows = 5 * c.mlp.batch + 5;  // room for the cursor's batch and the next ones
  Source src;
  std::mt19937_64 rng(s);
  if (c.u8) {
    std::vector<uint8_t> px(static_cast<size_t>(rows * c.mlp.in));
    for (uint8_t& b : px) b = static_cast<uint8_t>(rng() & 0xffu);
    src.images = Tensor::from_vector(px, {rows, c.mlp.in});
    src.scale = 1.0f / 127.5f, src.shift = -1.0f;
  } else {
    src.images = random_f32({rows, c.mlp.in}, s + 1, -2.0f, 2.0f);
    src.scale = 0.5f, src.shift = 0.25f;
  }
  std::vector<int32_t> lab(static_cast<size_t>(rows)), perm(static_cast<size_t>(rows));
  const int64_t classes = c.mlp.layers.back().out;
  for (int32_t& l : lab) l = static_cast<int32_t>(rng() % static_cast<uint64_t>(classes));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  src.labels = Tensor::from_vector(lab, {rows});
  src.perm = Tensor::from_vector(perm, {rows});
  if (p) {
    for (size_t l = 0; l < p->w.size(); ++l) {
      for (const Tensor* t : {&p->w[l], &p->b[l]}) {
        if (!t->defined()) continue;
        src.m.push_back(random_f32(t->shape(), s + 10 + src.m.size(), -1e-3f, 1e-3f));
        src.v.push_back(random_f32(t->shape(), s + 50 + src.v.size(), 1e-8f, 1e-5f));
      }
    }
  }
  return src;
}

// The CPU gather of the batch at `cursor` (the reference rows, and the problem's x).
std::pair<Tensor, Tensor> gathered(const Source& src, int64_t batch, int64_t cursor) {
  Tensor x = Tensor::empty({batch, src.images.dim(1)}, DType::f32, Device::cpu());
  Tensor y = Tensor::empty({batch}, DType::i32, Device::cpu());
  const Tensor cur = Tensor::from_vector<int64_t>({cursor}, {1});
  ops::gather_batch(src.images, src.labels, src.perm, cur, src.scale, src.shift, x, y);
  return {x, y};
}

LrSchedule schedule() {
  LrSchedule s;
  s.type = LrScheduleType::cosine;
  s.base_lr = 2e-3f, s.min_lr = 1e-5f, s.warmup_steps = 10, s.total_steps = 100;
  return s;
}

// One device's step: the problem's tensors (x and labels poisoned when gathered), the source,
// the counters [step, cursor] and the optimizer plan over the layers' parameters.
struct Run {
  StepTensors t;
  Tensor images, labels, perm, counters, step, cursor;
  std::vector<Tensor> m, v;
  std::unique_ptr<ops::MultiTensorPlan> plan;
  ops::MlpStepGather gather;
  ops::MlpStepUpdate update;

  Run(const EndsCase& c, const Problem& p, const Source& src, Device dev, bool advance = true)
      : t(upload(p, dev)) {
    if (c.gather) {
      t.x = poisoned(t.x.shape(), DType::f32, dev);
      t.labels = Tensor::from_vector(std::vector<int32_t>(static_cast<size_t>(c.mlp.batch), -7),
                                     {c.mlp.batch})
                     .to(dev);
    }
    images = src.images.to(dev), labels = src.labels.to(dev), perm = src.perm.to(dev);
    counters = Tensor::from_vector<int64_t>({c.taken, kCursor}, {2}).to(dev);
    step = counters.rows(0, 1), cursor = counters.rows(1, 2);
    gather = {&images, &labels, &perm, &cursor, src.scale, src.shift};
    std::vector<Tensor> ps, gs;
    for (size_t l = 0; l < t.w.size(); ++l) {
      ps.push_back(t.w[l]), gs.push_back(t.dw[l]);
      if (t.b[l].defined()) ps.push_back(t.b[l]), gs.push_back(t.db[l]);
    }
    for (size_t i = 0; i < src.m.size(); ++i) {
      m.push_back(src.m[i].to(dev));
      if (!c.sgd) v.push_back(src.v[i].to(dev));
    }
    plan = std::make_unique<ops::MultiTensorPlan>(ps, gs, m, v);
    if (advance) plan->advance_after_step(counters);
    update.plan = plan.get();
    update.sgd = c.sgd;
    update.adamw.weight_decay = 0.05f;
    update.sgd_hyper.momentum = 0.9f, update.sgd_hyper.weight_decay = 5e-4f;
    update.sgd_hyper.nesterov = true;
    update.schedule = schedule();
    update.step = &step;
  }

  ops::MlpStepArgs args(const EndsCase& c) {
    ops::MlpStepArgs a = t.args();
    a.gather = c.gather ? &gather : nullptr;
    a.update = c.update ? &update : nullptr;
    return a;
  }
};

Problem problem_of(const EndsCase& c, Source& src) {
  src = make_source(c, nullptr);
  const Problem p = make_problem(c.mlp, gathered(src, c.mlp.batch, kCursor).first);
  src = make_source(c, &p);
  return p;
}

void ends_case(const EndsCase& c) {
  Source src;
  const Problem p = problem_of(c, src);
  ASSERT_EQ(p.near_kink, 0) << c.name << ": pick another case name (seed)";
  Run ref(c, p, src, Device::cpu()), got(c, p, src, gpu());
  ops::mlp_train_step(ref.args(c));
  ops::mlp_train_step(got.args(c));
  const std::string at = "mlp_train_step " + c.name;
  if (c.gather) {
    EXPECT_TRUE(same(at + " gathered x", got.t.x, ref.t.x));
    EXPECT_TRUE(same(at + " gathered labels", got.t.labels, ref.t.labels));
  }
  compare(p, got.t, ref.t, at);
  const int64_t advanced = c.update ? 1 : 0;
  EXPECT_EQ(host_values(got.counters),
            (std::vector<double>{static_cast<double>(c.taken + advanced),
                                 static_cast<double>(kCursor + advanced)}))
      << at << " counters";
  if (!c.update) return;
  // The CPU optimizer on the kernel's gradients from the same starting state.
  Run upd(c, p, src, Device::cpu());
  const std::vector<Tensor>& gg = got.plan->grads();
  for (size_t i = 0; i < gg.size(); ++i) {
    Tensor g = upd.plan->grads()[i];
    g.copy_from(gg[i].to(Device::cpu()));
  }
  if (c.sgd)
    ops::sgd_step(*upd.plan, upd.update.sgd_hyper, upd.update.schedule, upd.step);
  else
    ops::adamw_step(*upd.plan, upd.update.adamw, upd.update.schedule, upd.step);
  for (size_t i = 0; i < gg.size(); ++i) {
    const std::string n = at + " parameter " + std::to_string(i);
    EXPECT_TRUE(close(n + " value", got.plan->params()[i], upd.plan->params()[i], kTolF32));
    EXPECT_TRUE(close(n + " m", got.m[i], upd.m[i], kTolF32));
    if (!c.sgd) {
      EXPECT_TRUE(close(n + " v", got.v[i], upd.v[i], kTolF32));
    }
  }
  EXPECT_EQ(host_values(got.counters), host_values(upd.counters)) << at << " counters";
}

std::vector<EndsCase> ends_cases() {
  const std::vector<LayerSpec> reference = {{256, kRelu}, {128, kRelu}, {10, kNone}};
  const std::vector<LayerSpec> odd = {{65, kRelu}, {33, kRelu}, {10, kNone}};
  std::vector<EndsCase> out;
  out.push_back({"ref_B128_u8_adamw_first", {"ends_ref_B128", 128, 784, reference}});
  out.push_back({"ref_B256_u8_adamw_t37",
                 {"ends_ref_B256", 256, 784, reference},
                 true,
                 true,
                 true,
                 false,
                 37});
  out.push_back(
      {"odd_B7_f32_scalar_sgd_t3", {"ends_odd_B7", 7, 37, odd}, true, false, true, true, 3});
  out.push_back({"w48_B130_u8_sgd_first", {"ends_w48_B130", 130, 48, odd}, true, true, true, true});
  out.push_back({"w40_B9_f32_vec_adamw", {"ends_w40_B9", 9, 40, odd}, true, false, true, false, 5});
  out.push_back({"gather_only_B33",
                 {"ends_gather_B33", 33, 50, {{40, kNone}, {30, kRelu}, {10, kNone}}},
                 true,
                 true,
                 false});
  out.push_back({"update_only_B19",
                 {"ends_update_B19", 19, 20, {{31, kRelu, false}, {17, kRelu}, {10, kNone}}},
                 false,
                 true,
                 true,
                 false,
                 12});
  out.push_back({"empty_B0_adamw", {"ends_empty_B0", 0, 37, odd}, true, true, true, false, 4});
  // More update chunks (784 x 1024 weights: 392 of them) than blocks: the blocks' first chunks
  // read at the launch's start, the others in the update phase.
  out.push_back({"wide_B16_f32_adamw_t9",
                 {"ends_wide_B16", 16, 784, {{1024, kRelu}, {64, kRelu}, {10, kNone}}},
                 true,
                 false,
                 true,
                 false,
                 9});
  return out;
}

// One plain launch then two graph replays equal three plain launches bitwise; the last batch is
// the one at the advanced cursor.
void graph_case(const EndsCase& c) {
  Source src;
  const Problem p = problem_of(c, src);
  Run plain(c, p, src, gpu()), graphed(c, p, src, gpu());
  const ops::MlpStepArgs pa = plain.args(c), ga = graphed.args(c);
  for (int i = 0; i < 3; ++i) ops::mlp_train_step(pa);
  ops::mlp_train_step(ga);
  ops::StepGraph graph(gpu());
  std::string reason;
  ASSERT_TRUE(graph.capture([&] { ops::mlp_train_step(ga); }, &reason))
      << c.name << ": capture failed: " << reason;
  graph.replay();
  graph.replay();
  ops::synchronize(gpu());
  const std::string at = c.name + " graph replay ";
  const auto a = plain.t.outputs(), b = graphed.t.outputs();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(bitwise_equal(at + a[i].first, *a[i].second, *b[i].second));
  for (size_t i = 0; i < plain.m.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(at + "value " + std::to_string(i), plain.plan->params()[i],
                              graphed.plan->params()[i]));
    EXPECT_TRUE(bitwise_equal(at + "m " + std::to_string(i), plain.m[i], graphed.m[i]));
    if (!c.sgd) {
      EXPECT_TRUE(bitwise_equal(at + "v " + std::to_string(i), plain.v[i], graphed.v[i]));
    }
  }
  for (const auto* t : {&plain, &graphed}) {
    EXPECT_EQ(host_values(t->counters),
              (std::vector<double>{static_cast<double>(c.taken + 3), kCursor + 3.0}))
        << at << "counters";
  }
  EXPECT_TRUE(bitwise_equal(at + "loss_sum", plain.t.loss_sum, graphed.t.loss_sum));
  const auto [x3, y3] = gathered(src, c.mlp.batch, kCursor + 2);
  EXPECT_TRUE(same(at + "third batch x", graphed.t.x, x3));
  EXPECT_TRUE(same(at + "third batch labels", graphed.t.labels, y3));
}

// ---- perf: the whole step in one launch against the gather, the step and AdamW apart ----

void perf_case(int64_t batch) {
  const Device dev = op_table::perf_device();
  const EndsCase c{"perf_ends",
                   {"perf_ends_B" + std::to_string(batch),
                    batch,
                    784,
                    {{256, kRelu}, {128, kRelu}, {10, kNone}}}};
  Source src;
  const Problem p = problem_of(c, src);
  Run r(c, p, src, dev, false);  // no counter advance: every repetition reads the same batch
  const ops::MlpStepArgs whole = r.args(c), alone = r.t.args();
  const std::string shape = " 784-256-128-10 B" + std::to_string(batch);
  op_table::time_op("mlp_train_step + gather + AdamW" + shape, dev,
                    [&] { ops::mlp_train_step(whole); });
  op_table::time_op("gather_batch, mlp_train_step, adamw_step (3 launches)" + shape, dev, [&] {
    ops::gather_batch(r.images, r.labels, r.perm, r.cursor, r.gather.scale, r.gather.shift, r.t.x,
                      r.t.labels);
    ops::mlp_train_step(alone);
    ops::adamw_step(*r.plan, r.update.adamw, r.update.schedule, r.step);
  });
}

}  // namespace

// The same op as the mlp_step entry, with its gather and update parts.
KASMINA_OP_TABLE_ENTRY(mlp_step_ends) {
  op_table::OpTestEntry e;
  e.ops = {"mlp_train_step"};
  e.perf = [] { return reference_perf_cases(&perf_case); };
  e.correctness = [] {
    auto out = op_table::cases_over(ends_cases(), &ends_name, &ends_case);
    for (const EndsCase& c : ends_cases()) {
      if (c.name == "ref_B128_u8_adamw_first" || c.name == "odd_B7_f32_scalar_sgd_t3")
        out.push_back({"graph_replay_" + c.name, [c] { graph_case(c); }});
    }
    return out;
  };
  return e;
}

}  // namespace kasmina::cuda_test
