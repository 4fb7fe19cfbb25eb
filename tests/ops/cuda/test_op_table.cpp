// The op table driver (in the spirit of ggml's test-backend-ops): iterates the op table
// (op_table.hpp) and registers one gtest test per case and mode:
//   CudaVsCpu_<entry>.<case>   correctness, CUDA against the CPU twin (skips without a GPU)
//   Gradient_<entry>.<case>    finite differences in float64 on the CPU (runs everywhere)
//   Perf_<entry>.<case>        timings, printed, never asserted (only when asked for)
// plus OpTable.* checks that every registered op (src/ops/op_registry.hpp) has an entry and
// every differentiable op has gradient cases.
//
// Choosing what runs:
//   --mode=correctness,gradients,perf   (or KASMINA_OP_MODE; default correctness,gradients)
//   --op=NAME[,NAME...]                 (or KASMINA_OP) entries whose name contains NAME or
//                                       that cover the op NAME
//   --gtest_filter=...                  as usual; test names contain the entry's name
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ops/guard/loss_guard.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::op_table {

std::vector<OpTestEntry>& entries() {
  static std::vector<OpTestEntry> table;
  return table;
}

EntryRegistration::EntryRegistration(const char* name, OpTestEntry (*make)()) {
  OpTestEntry e = make();
  e.name = name;
  entries().push_back(std::move(e));
}

Device perf_device() {
  ops::init();
  return ops::cuda_available() ? Device::cuda(0) : Device::cpu();
}

void time_op(const std::string& what, Device dev, const std::function<void()>& fn, int iters) {
  for (int i = 0; i < 3; ++i) fn();
  ops::synchronize(dev);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  ops::synchronize(dev);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
      iters;
  std::printf("[ perf     ] %s: %.2f us per call (%s)\n", what.c_str(), us, dev.str().c_str());
}

namespace {

// Ops whose backward is checked against finite differences (their gradient cases must exist).
const std::vector<std::string>& differentiable_ops() {
  static const std::vector<std::string> v = {
      "linear_forward", "linear_backward_input", "linear_backward_weight", "activation_forward",
      "activation_backward", "activation_backward_aux", "layernorm_forward", "layernorm_backward",
      "dropout_forward", "dropout_backward", "softmax_xent", "morph_forward", "morph_backward",
      "residual_add", "morph_gemm_blend", "morph_gemm_delta_grad", "morph_gemm_scatter",
      "morph_rows_blend", "morph_rows_delta_grad", "morph_rows_scatter",
      // conv-net ops (src/ops/conv_ops.hpp)
      "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
      "batchnorm_forward_train", "batchnorm_backward", "maxpool2d_forward", "maxpool2d_backward",
      "avgpool2d_forward", "avgpool2d_backward", "global_avgpool_forward",
      "global_avgpool_backward",
      // transformer ops (src/ops/transformer_ops.hpp)
      "attention_forward", "attention_backward", "patchify_forward", "patchify_backward",
      "tokens_assemble_forward", "tokens_assemble_backward", "select_token_forward",
      "select_token_backward"};
  return v;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

struct Selection {
  bool correctness = true, gradients = true, perf = false;
  std::vector<std::string> ops;  // empty: all

  // An entry is chosen when a wanted name is part of its name (--op=linear: every linear entry)
  // or is exactly one of the ops it covers (--op=activation_backward_aux).
  bool wants(const OpTestEntry& e) const {
    if (ops.empty()) return true;
    for (const std::string& want : ops) {
      if (e.name.find(want) != std::string::npos) return true;
      for (const std::string& op : e.ops) {
        if (op == want) return true;
      }
      for (const std::string& op : e.grad_ops) {
        if (op == want) return true;
      }
    }
    return false;
  }
};

Selection parse(int* argc, char** argv) {
  Selection sel;
  std::string mode = std::getenv("KASMINA_OP_MODE") ? std::getenv("KASMINA_OP_MODE") : "";
  std::string op = std::getenv("KASMINA_OP") ? std::getenv("KASMINA_OP") : "";
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--mode=", 0) == 0) {
      mode = a.substr(7);
    } else if (a.rfind("--op=", 0) == 0) {
      op = a.substr(5);
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  if (!mode.empty()) {
    sel.correctness = sel.gradients = sel.perf = false;
    for (const std::string& m : split(mode)) {
      if (m == "correctness") {
        sel.correctness = true;
      } else if (m == "gradients") {
        sel.gradients = true;
      } else if (m == "perf") {
        sel.perf = true;
      } else if (m == "all") {
        sel.correctness = sel.gradients = sel.perf = true;
      } else {
        std::fprintf(stderr, "unknown --mode '%s' (allowed: correctness, gradients, perf, all)\n",
                     m.c_str());
        std::exit(2);
      }
    }
  }
  sel.ops = split(op);
  return sel;
}

class CaseTest : public ::testing::Test {
 public:
  CaseTest(std::function<void()> run, bool needs_cuda)
      : run_(std::move(run)), needs_cuda_(needs_cuda) {}
  void TestBody() override {
    if (needs_cuda_) {
      KASMINA_REQUIRE_CUDA();
    }
    run_();
  }

 private:
  std::function<void()> run_;
  bool needs_cuda_;
};

int register_mode(const OpTestEntry& e, const char* mode, const CaseList& cases, bool needs_cuda) {
  if (!cases) return 0;
  const std::string suite = std::string(mode) + "_" + e.name;
  std::set<std::string> seen;
  int n = 0;
  for (OpCase& c : cases()) {
    if (!seen.insert(c.name).second) {
      std::fprintf(stderr, "op table: duplicate case %s.%s\n", suite.c_str(), c.name.c_str());
      std::exit(1);
    }
    std::function<void()> run = std::move(c.run);
    ::testing::RegisterTest(
        suite.c_str(), c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
        [run, needs_cuda]() -> ::testing::Test* { return new CaseTest(run, needs_cuda); });
    ++n;
  }
  return n;
}

bool listed(const std::vector<std::string>& v, const std::string& name) {
  return std::find(v.begin(), v.end(), name) != v.end();
}

TEST(OpTable, EveryRegisteredOpHasCudaVsCpuCases) {
  ASSERT_FALSE(ops::registered_ops().empty());
  for (const ops::OpDescriptor& d : ops::registered_ops()) {
    bool found = false;
    for (const OpTestEntry& e : entries()) {
      if (listed(e.ops, d.name) && e.correctness) found = true;
    }
    EXPECT_TRUE(found) << "op " << d.name << d.signature
                       << " is registered but no op table entry compares it (tests/ops/cuda/)";
    EXPECT_NE(d.cpu, nullptr) << d.name;
    EXPECT_EQ(d.cuda != nullptr, ops::cuda_built()) << d.name;
  }
  for (const OpTestEntry& e : entries()) {
    for (const std::string& op : e.ops) {
      EXPECT_NE(ops::find_op(op.c_str()), nullptr)
          << "entry " << e.name << " names " << op << ", which is not a registered op";
    }
  }
}

TEST(OpTable, EveryDifferentiableOpHasGradientCases) {
  for (const std::string& op : differentiable_ops()) {
    EXPECT_NE(ops::find_op(op.c_str()), nullptr) << op;
    bool found = false;
    for (const OpTestEntry& e : entries()) {
      if (listed(e.grad_ops, op) && e.gradients) found = true;
    }
    EXPECT_TRUE(found) << "differentiable op " << op << " has no gradient cases";
  }
}

}  // namespace
}  // namespace kasmina::op_table

int main(int argc, char** argv) {
  using namespace kasmina::op_table;
  const Selection sel = parse(&argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  int counts[3] = {0, 0, 0};
  int chosen = 0;
  for (const OpTestEntry& e : entries()) {
    if (!sel.wants(e)) continue;
    ++chosen;
    if (sel.correctness) counts[0] += register_mode(e, "CudaVsCpu", e.correctness, true);
    if (sel.gradients) counts[1] += register_mode(e, "Gradient", e.gradients, false);
    if (sel.perf) counts[2] += register_mode(e, "Perf", e.perf, false);
  }
  if (!sel.ops.empty() && chosen == 0) {
    std::fprintf(stderr, "--op / KASMINA_OP matches no op table entry\n");
    return 2;
  }
  std::printf(
      "[ op table ] %zu registered ops, %zu entries (%d chosen): %d CUDA-vs-CPU, %d "
      "gradient, %d perf cases\n",
      kasmina::ops::registered_ops().size(), entries().size(), chosen, counts[0], counts[1],
      counts[2]);
  return RUN_ALL_TESTS();
}
