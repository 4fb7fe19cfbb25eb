// Op table entry of the fused MLP training step (mlp_train_step, ops/mlp_step_ops.hpp): the CUDA
// kernel against the CPU twin on the reference MLP (784-256-128-10) and on shapes that stress
// tile edges (one row, odd widths, a width-1 hidden layer, layers without bias or activation, one
// layer, eight layers, 1000 classes, widths up to 1100 at B = 600); every output is compared,
// also under the plan's other choices (the logits as a GEMM phase, no weight gradient moved).
// Also run-to-run bitwise determinism and replay from a captured CUDA graph; perf cases time the
// fused step beside the layered step it replaces (with KASMINA_MLP_STEP_TRACE=1 also tracing
// launches after a cold L2). The problems: mlp_step_problem.hpp.
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "bench/l2_flush.hpp"
#include "core/env_switch.hpp"
#include "ops/cuda/mlp_step_trace.hpp"
#include "ops/mlp_step_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/mlp_step_problem.hpp"
#include "tests/ops/cuda/op_table.hpp"
#include "tests/ops/mlp_step_tensors.hpp"

namespace kasmina::cuda_test {
namespace {

using namespace mlp_problem;

void step_case(const MlpCase& c) {
  const Problem p = make_problem(c);
  ASSERT_EQ(p.near_kink, 0) << c.name << ": a relu pre-activation of a layer without bias lies "
                            << "within " << kKinkGap << " of 0; pick another case name (seed)";
  StepTensors ref = upload(p, Device::cpu());
  ops::mlp_train_step(ref.args());
  StepTensors got = upload(p, gpu());
  ops::mlp_train_step(got.args());
  compare(p, got, ref, "mlp_train_step " + c.name);
}

std::vector<MlpCase> step_cases() {
  const std::vector<LayerSpec> reference = {{256, kRelu}, {128, kRelu}, {10, kNone}};
  const std::vector<LayerSpec> odd = {{65, kRelu}, {33, kRelu}, {10, kNone}};
  std::vector<MlpCase> out;
  for (int64_t b : {1, 128, 256}) out.push_back({"ref_B" + std::to_string(b), b, 784, reference});
  for (int64_t b : {1, 7, 130}) out.push_back({"odd_B" + std::to_string(b), b, 37, odd});
  out.push_back({"no_bias_B7", 7, 37, {{65, kRelu, false}, {33, kRelu, true}, {10, kNone, false}}});
  out.push_back({"hidden_none_B33", 33, 50, {{40, kNone}, {30, kRelu}, {10, kNone}}});
  out.push_back({"single_B7", 7, 50, {{10, kNone}}});
  out.push_back({"single_no_bias_B130", 130, 50, {{10, kNone, false}}});
  out.push_back({"width1_B9", 9, 16, {{1, kRelu}, {4, kNone}}});
  out.push_back({"eight_layers_B19",
                 19,
                 20,
                 {{31, kRelu},
                  {17, kRelu},
                  {64, kRelu},
                  {5, kRelu},
                  {33, kNone},
                  {129, kRelu},
                  {40, kRelu},
                  {10, kNone}}});
  out.push_back({"classes1000_B64", 64, 100, {{128, kRelu}, {1000, kNone}}});
  // The most classes the loss phase takes a lane each for (its logits and input gradient), and
  // one class.
  out.push_back({"classes32_B70", 70, 30, {{48, kRelu}, {32, kNone}}});
  out.push_back({"classes1_B9", 9, 30, {{20, kRelu}, {1, kNone}}});
  out.push_back({"wide_B600", 600, 1100, {{1100, kRelu}, {257, kRelu}, {10, kNone}}});
  // 10 x 600 of last-layer weight does not fit shared memory: its input gradient is a GEMM phase.
  out.push_back({"wide_last_B33", 33, 40, {{600, kRelu}, {10, kNone}}});
  // The input width is not bounded by kMlpStepMaxWidth (only the layers' outputs are).
  out.push_back({"input5000_B9", 9, 5000, {{64, kRelu}, {10, kNone}}});
  out.push_back({"empty_B0", 0, 37, {{65, kRelu}, {10, kNone}}});
  return out;
}

// The same comparison under the plan's other choices (kernels/mlp_step_plan.cuh): the logits as
// a forward GEMM phase instead of in the loss phase, and every weight gradient left in the phase
// of the input gradient below it.
void plan_case(const MlpCase& c, bool logits_in_loss, bool late_weight_grads) {
  ScopedSwitch logits(&ops::cuda::mlp_step_logits_in_loss, &ops::cuda::set_mlp_step_logits_in_loss,
                      logits_in_loss);
  ScopedSwitch late(&ops::cuda::mlp_step_late_weight_grads,
                    &ops::cuda::set_mlp_step_late_weight_grads, late_weight_grads);
  step_case(c);
}

// Without the optional correct counter: the same loss, correct untouched.
void no_correct_case() {
  const Problem p = make_problem({"no_correct_B7", 7, 37, {{65, kRelu}, {33, kRelu}, {10, kNone}}});
  StepTensors ref = upload(p, Device::cpu());
  ops::mlp_train_step(ref.args(false));
  StepTensors got = upload(p, gpu());
  ops::mlp_train_step(got.args(false));
  compare(p, got, ref, "mlp_train_step without correct");
  EXPECT_EQ(host_values(got.correct)[0], 3.0);
}

// Two runs on the same inputs give bitwise the same outputs, accumulators included.
void determinism_case(const MlpCase& c) {
  const Problem p = make_problem(c);
  StepTensors first = upload(p, gpu()), second = upload(p, gpu());
  ops::mlp_train_step(first.args());
  ops::mlp_train_step(second.args());
  const auto a = first.outputs(), b = second.outputs();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(
        bitwise_equal(c.name + " " + a[i].first + " run to run", *a[i].second, *b[i].second));
  }
  EXPECT_TRUE(bitwise_equal(c.name + " loss_sum run to run", first.loss_sum, second.loss_sum));
  EXPECT_TRUE(bitwise_equal(c.name + " correct run to run", first.correct, second.correct));
}

// The step captured into a CUDA graph (as the trainer replays it): each replay gives the plain
// launch's outputs bitwise and adds the same loss and count again.
void graph_case(const MlpCase& c) {
  const Problem p = make_problem(c);
  StepTensors t = upload(p, gpu());
  const ops::MlpStepArgs a = t.args();
  ops::mlp_train_step(a);
  std::vector<Tensor> plain;
  for (const auto& [name, out] : t.outputs()) plain.push_back(out->to(Device::cpu()));
  const double loss_once = host_values(t.loss_sum)[0] - 1.25;
  const double hits_once = host_values(t.correct)[0] - 3.0;
  ops::StepGraph graph(gpu());
  std::string reason;
  ASSERT_TRUE(graph.capture([&] { ops::mlp_train_step(a); }, &reason))
      << c.name << ": capture failed: " << reason;
  for (const auto& [name, out] : t.outputs()) {
    ops::fill(*out, std::numeric_limits<double>::quiet_NaN());
  }
  graph.replay();
  graph.replay();
  ops::synchronize(gpu());
  const auto outs = t.outputs();
  for (size_t i = 0; i < outs.size(); ++i) {
    EXPECT_TRUE(
        bitwise_equal(c.name + " " + outs[i].first + " graph replay", *outs[i].second, plain[i]));
  }
  EXPECT_NEAR(host_values(t.loss_sum)[0], 1.25 + 3.0 * loss_once, 1e-9 * loss_once);
  EXPECT_EQ(host_values(t.correct)[0], 3.0 + 3.0 * hits_once);
}

// ---- perf: the fused step beside the layered step it replaces ----

void layered_step(StepTensors& t, std::vector<Tensor>& aux) {
  const size_t n = t.w.size();
  for (size_t l = 0; l < n; ++l) {
    ops::linear_forward(l ? t.y[l - 1] : t.x, t.w[l], t.b[l], t.act[l], t.y[l], aux[l]);
  }
  ops::softmax_xent(t.y.back(), t.labels, t.grad_scale, &t.dlogits, t.loss_sum, &t.correct);
  for (size_t l = n; l-- > 0;) {
    const Tensor& g = l + 1 == n ? t.dlogits : t.dpre[l];
    ops::linear_backward_weight(g, l ? t.y[l - 1] : t.x, t.dw[l],
                                t.b[l].defined() ? &t.db[l] : nullptr);
    if (l) ops::linear_backward_input(g, t.w[l], t.act[l - 1], aux[l - 1], t.dpre[l - 1], nullptr);
  }
}

// With KASMINA_MLP_STEP_TRACE=1: three more launches, each after the bench's cold L2
// (bench/l2_flush.hpp), so the trace shows where a cold step's time goes, phase by phase.
void cold_traces(const ops::MlpStepArgs& a, Device dev) {
  bench::L2Flush flush(dev);
  for (int i = 0; i < 3; ++i) {
    flush();
    std::fprintf(stderr, "[mlp_step trace] the next launch follows a 128 MiB read (cold L2)\n");
    ops::mlp_train_step(a);
  }
}

void perf_case(int64_t batch) {
  const Device dev = op_table::perf_device();
  const Problem p = make_problem(
      {"perf_B" + std::to_string(batch), batch, 784, {{256, kRelu}, {128, kRelu}, {10, kNone}}});
  StepTensors t = upload(p, dev);
  const ops::MlpStepArgs a = t.args();
  const std::string shape = " 784-256-128-10 B" + std::to_string(batch);
  op_table::time_op("mlp_train_step" + shape, dev, [&] { ops::mlp_train_step(a); });
  if (ops::cuda::mlp_step_trace_on()) cold_traces(a, dev);
  std::vector<Tensor> aux;
  for (size_t l = 0; l < t.w.size(); ++l) {
    aux.push_back(ops::make_linear_aux(batch, t.w[l].dim(0), t.act[l], dev));
  }
  op_table::time_op("layered step (for comparison)" + shape, dev, [&] { layered_step(t, aux); });
}

}  // namespace

using op_table::OpCase;
using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(mlp_step) {
  OpTestEntry e;
  e.ops = {"mlp_train_step"};
  e.correctness = [] {
    std::vector<OpCase> out = op_table::cases_over(step_cases(), &case_name, &step_case);
    out.push_back({"no_correct_B7", &no_correct_case});
    for (const MlpCase& c : step_cases()) {
      if (c.name == "ref_B256" || c.name == "odd_B130" || c.name == "wide_B600") {
        out.push_back({"deterministic_" + c.name, [c] { determinism_case(c); }});
      }
      if (c.name == "ref_B256" || c.name == "odd_B130" || c.name == "eight_layers_B19") {
        out.push_back({"logits_as_gemm_" + c.name, [c] { plan_case(c, false, true); }});
        out.push_back({"weight_grads_early_" + c.name, [c] { plan_case(c, true, false); }});
      }
      if (c.name == "ref_B128" || c.name == "odd_B7") {
        out.push_back({"graph_replay_" + c.name, [c] { graph_case(c); }});
      }
    }
    return out;
  };
  e.perf = [] { return reference_perf_cases(&perf_case); };
  return e;
}

}  // namespace kasmina::cuda_test
