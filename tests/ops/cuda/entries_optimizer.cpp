// Op table entries of the fused multi-tensor AdamW and SGD: CUDA against the CPU twins on
// several tensors of odd sizes, every learning-rate schedule, a few consecutive steps with the
// device step counter advanced; and with bf16 weight copies kept by the step
// (MultiTensorPlan::keep_bf16_copies): each device's copy is its own updated parameter rounded to
// bf16, bit for bit, and a tensor without a copy is left alone.
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/bf16.hpp"
#include "core/enum_table.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

enum class Optimizer { adamw, sgd, sgd_nesterov };

struct OptimizerCase {
  Optimizer opt;
  LrScheduleType schedule;
  // The plan advances [step, cursor] itself (advance_after_step) instead of counter_add.
  bool advance = false;
  // Every tensor but the second keeps a bf16 copy (MultiTensorPlan::keep_bf16_copies).
  bool copies = false;
  // One more tensor of 4 Mi + 4 elements (float4 groups, a last chunk of one group): more than 4
  // chunks an SM on any GPU of up to 512 SMs, so the kernel takes one block a chunk
  // (kernels/optimizer.cu) instead of two.
  bool large = false;
};

constexpr EnumTable<Optimizer, 3> kOptimizerNames{{
    {"adamw", Optimizer::adamw},
    {"sgd", Optimizer::sgd},
    {"sgd_nesterov", Optimizer::sgd_nesterov},
}};

const char* optimizer_name(Optimizer o) {
  return enum_name(kOptimizerNames, o);
}

// The schedule's YAML name (config's table).
const char* schedule_name(LrScheduleType t) {
  return to_string(t);
}

// Parameters, gradients and moments of one device, built from the same host values.
struct ParamSet {
  std::vector<Tensor> p, g, m, v;
};

// The bf16 copies of `s` (none for tensor 1), poisoned so that an unwritten one shows.
std::vector<Tensor> make_copies(const ParamSet& s, Device dev) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < s.p.size(); ++i)
    out.push_back(i == 1 ? Tensor() : poisoned(s.p[i].shape(), DType::bf16, dev));
  return out;
}

// The copy is the parameter rounded to bf16, bit for bit.
::testing::AssertionResult copy_is_rounded(const std::string& what, const Tensor& copy,
                                           const Tensor& param) {
  const std::vector<float> p = param.to(Device::cpu()).to_vector<float>();
  const std::vector<bf16> c = copy.to(Device::cpu()).to_vector<bf16>();
  for (size_t i = 0; i < p.size(); ++i) {
    if (c[i].bits != float_to_bf16_bits(p[i]))
      return ::testing::AssertionFailure()
             << what << " copy differs at " << i << ": " << c[i].to_float() << " for " << p[i];
  }
  return ::testing::AssertionSuccess();
}

ParamSet make_set(const std::vector<int64_t>& sizes, Device dev, uint64_t seed) {
  ParamSet s;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const Shape shape = {sizes[i]};
    s.p.push_back(random_f32(shape, seed + i).to(dev));
    s.g.push_back(random_f32(shape, seed + 100 + i).to(dev));
    s.m.push_back(Tensor::zeros(shape, DType::f32, dev));
    s.v.push_back(Tensor::zeros(shape, DType::f32, dev));
  }
  return s;
}

void optimizer_case(const OptimizerCase& c) {
  std::vector<int64_t> sizes = {1, 3, 1023, 4000, 16385, 70001};
  if (c.large) sizes.push_back((int64_t{1} << 22) + 4);
  ParamSet cpu = make_set(sizes, Device::cpu(), 7);
  ParamSet gpu_set = make_set(sizes, gpu(), 7);
  const bool adam = c.opt == Optimizer::adamw;
  ops::MultiTensorPlan plan_cpu(cpu.p, cpu.g, cpu.m, adam ? cpu.v : std::vector<Tensor>{});
  ops::MultiTensorPlan plan_gpu(gpu_set.p, gpu_set.g, gpu_set.m,
                                adam ? gpu_set.v : std::vector<Tensor>{});
  LrSchedule sched;
  sched.type = c.schedule;
  sched.base_lr = 0.05f;
  sched.min_lr = 0.001f;
  sched.warmup_steps = 2;
  sched.total_steps = 6;
  ops::AdamWHyper ah;
  ah.weight_decay = 0.1f;
  ops::SgdHyper sh;
  sh.momentum = 0.9f;
  sh.weight_decay = 0.01f;
  sh.nesterov = c.opt == Optimizer::sgd_nesterov;
  // [step, cursor] as the trainer keeps them; the step is a view of the first element.
  Tensor counters_cpu = Tensor::from_vector<int64_t>({0, 5}, {2});
  Tensor counters_gpu = counters_cpu.to(gpu());
  Tensor step_cpu = counters_cpu.rows(0, 1);
  Tensor step_gpu = counters_gpu.rows(0, 1);
  if (c.advance) {
    plan_cpu.advance_after_step(counters_cpu);
    plan_gpu.advance_after_step(counters_gpu);
  }
  const std::vector<Tensor> copies_cpu = make_copies(cpu, Device::cpu());
  const std::vector<Tensor> copies_gpu = make_copies(gpu_set, gpu());
  if (c.copies) {
    plan_cpu.keep_bf16_copies(copies_cpu);
    plan_gpu.keep_bf16_copies(copies_gpu);
  }
  for (int step = 0; step < 4; ++step) {
    // Fresh gradients every step (same values on both devices).
    for (size_t i = 0; i < sizes.size(); ++i) {
      const Tensor g = random_f32({sizes[i]}, 1000 * (step + 1) + i);
      cpu.g[i].copy_from(g);
      gpu_set.g[i].copy_from(g);
    }
    if (adam) {
      ops::adamw_step(plan_cpu, ah, sched, step_cpu);
      ops::adamw_step(plan_gpu, ah, sched, step_gpu);
    } else {
      ops::sgd_step(plan_cpu, sh, sched, step_cpu);
      ops::sgd_step(plan_gpu, sh, sched, step_gpu);
    }
    if (!c.advance) {
      ops::counter_add(counters_cpu, 1);
      ops::counter_add(counters_gpu, 1);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::string what = std::string(optimizer_name(c.opt)) +
                               " schedule=" + schedule_name(c.schedule) +
                               " step=" + std::to_string(step) + " tensor " + std::to_string(i) +
                               " (n=" + std::to_string(sizes[i]) + ")";
      ASSERT_TRUE(close(what + " param", gpu_set.p[i], cpu.p[i], kTolF32));
      ASSERT_TRUE(close(what + " m", gpu_set.m[i], cpu.m[i], kTolF32));
      if (adam) {
        ASSERT_TRUE(close(what + " v", gpu_set.v[i], cpu.v[i], kTolF32));
      }
      if (c.copies && i != 1) {
        EXPECT_TRUE(copy_is_rounded(what + " cuda", copies_gpu[i], gpu_set.p[i]));
        EXPECT_TRUE(copy_is_rounded(what + " cpu", copies_cpu[i], cpu.p[i]));
      }
    }
  }
  EXPECT_TRUE(same("step counter and cursor", counters_gpu, counters_cpu));
  EXPECT_EQ(counters_gpu.to_vector<int64_t>(), (std::vector<int64_t>{4, 9}));
}

std::vector<op_table::OpCase> optimizer_case_list(std::vector<Optimizer> opts) {
  std::vector<op_table::OpCase> out;
  for (Optimizer o : opts) {
    for (LrScheduleType t :
         {LrScheduleType::constant, LrScheduleType::cosine, LrScheduleType::linear}) {
      for (bool advance : {false, true}) {
        const OptimizerCase c{o, t, advance};
        out.push_back({std::string(optimizer_name(o)) + "_" + schedule_name(t) +
                           (advance ? "_advancing_counters" : ""),
                       [c] { optimizer_case(c); }});
      }
    }
    const OptimizerCase with_copies{o, LrScheduleType::cosine, true, true};
    out.push_back({std::string(optimizer_name(o)) + "_cosine_bf16_copies",
                   [with_copies] { optimizer_case(with_copies); }});
    const OptimizerCase large{o, LrScheduleType::cosine, true, true, true};
    out.push_back({std::string(optimizer_name(o)) + "_cosine_bf16_copies_one_block_a_chunk",
                   [large] { optimizer_case(large); }});
  }
  return out;
}

// One step over the parameters of a 784-256-256-10 MLP.
std::vector<op_table::OpCase> optimizer_perf(bool adam) {
  return {{"mlp_784_256_256_10", [adam] {
             const Device dev = op_table::perf_device();
             const std::vector<int64_t> sizes = {256 * 784, 256, 256 * 256, 256, 10 * 256, 10};
             ParamSet set = make_set(sizes, dev, 3);
             ops::MultiTensorPlan plan(set.p, set.g, set.m, adam ? set.v : std::vector<Tensor>{});
             LrSchedule sched;
             sched.base_lr = 1e-3f;
             const Tensor step = Tensor::zeros({1}, DType::i64, dev);
             op_table::time_op(adam ? "adamw_step mlp" : "sgd_step mlp", dev, [&] {
               if (adam) {
                 ops::adamw_step(plan, ops::AdamWHyper{}, sched, step);
               } else {
                 ops::sgd_step(plan, ops::SgdHyper{}, sched, step);
               }
             });
           }}};
}

}  // namespace
}  // namespace kasmina::cuda_test

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(adamw_step) {
  OpTestEntry e;
  e.ops = {"adamw_step"};
  e.correctness = [] { return cuda_test::optimizer_case_list({cuda_test::Optimizer::adamw}); };
  e.perf = [] { return cuda_test::optimizer_perf(true); };
  return e;
}

KASMINA_OP_TABLE_ENTRY(sgd_step) {
  OpTestEntry e;
  e.ops = {"sgd_step"};
  e.correctness = [] {
    return cuda_test::optimizer_case_list(
        {cuda_test::Optimizer::sgd, cuda_test::Optimizer::sgd_nesterov});
  };
  e.perf = [] { return cuda_test::optimizer_perf(false); };
  return e;
}

}  // namespace kasmina::op_table
