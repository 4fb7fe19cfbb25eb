// IR blueprints on a GPU: the generated seed kernels, compiled by NVRTC and launched after the
// fused ops, against the CPU twins (forward, isolated loss, dx, parameter gradients, gradient
// norms, task_gradient measurement) on a layer mixing IR and built-in seeds; an IR re-statement
// of each built-in against the built-in's hand-written kernels on the GPU; a germination's
// initial parameters (bitwise as on the CPU); graph replay (bitwise as plain launches); the
// IR-interpreting kernels (KASMINA_IR_BACKEND=interpreter) against the CPU twins and the
// generated kernels; the built-in step (KASMINA_IR_BACKEND=builtin) and the kernels from PTX
// (KASMINA_IR_TARGET=ptx) against the CPU twins; linked modules against fused ones.
// Skips with a message without a CUDA device or without NVRTC.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <vector>

#include <unistd.h>

#include "ir_layer_util.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/morph/blueprint_module.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/nvjitlink.hpp"
#include "ops/ops.hpp"

namespace kasmina::morph {
namespace {

namespace fs = std::filesystem;

void expect_close(const Tensor& got, const Tensor& want, const char* what, float rel = 2e-4f) {
  const std::vector<float> a = got.to_vector<float>(), b = want.to_vector<float>();
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < a.size() && bad < 5; ++i)
    if (!(std::fabs(a[i] - b[i]) <= 2e-5f + rel * std::fabs(b[i]))) {
      ADD_FAILURE() << what << "[" << i << "]: " << a[i] << " vs " << b[i];
      ++bad;
    }
}

// Skips unless a GPU and the layer's module are there (the module's note says why not).
#define REQUIRE_MODULE(layer)                                                       \
  do {                                                                              \
    if ((layer).buffers().modules.empty())                                          \
      GTEST_SKIP() << ((layer).module_notes().empty() ? std::string("no module")    \
                                                      : (layer).module_notes()[0]); \
  } while (0)

// KASMINA_IR_BACKEND for the rigs made in a scope (the layer reads it at prepare time).
struct Backend {
  explicit Backend(const char* name) { ::setenv("KASMINA_IR_BACKEND", name, 1); }
  ~Backend() { ::unsetenv("KASMINA_IR_BACKEND"); }
};

bool interpreted(const KasminaLayer& layer) {
  return !layer.buffers().modules.empty() &&
         layer.buffers().modules[0]->describe().find("IR-interpreting") != std::string::npos;
}

bool have_gpu() {
  ops::init();
  return ops::cuda_available();
}

struct Case {
  const char* file;
  const char* name;
  int32_t chunk;
};

// What one forward and backward of a rig leave (out, dx, the pool with the gradients, the
// gradient norms, the step statistics), under each training objective.
struct Outputs {
  std::vector<std::vector<float>> values;
};
std::vector<Outputs> run_objectives(testing::IrRig& rig) {
  std::vector<Outputs> all;
  for (const TrainingObjective obj :
       {TrainingObjective::reconstruction, TrainingObjective::task_gradient}) {
    ops::MorphLayerBuffers L = rig.layer.buffers();
    L.training_objective = static_cast<int32_t>(obj);
    const ops::MorphForwardOptions opt;
    ops::morph_forward(L, rig.x, rig.out, opt);
    ops::morph_backward(L, rig.x, rig.dy, &rig.dx, true);
    all.push_back(
        {{rig.out.to_vector<float>(), rig.dx.to_vector<float>(), L.pool.to_vector<float>(),
          L.grad_norm.to_vector<float>(), L.step_stats.to_vector<float>()}});
  }
  return all;
}

// How many values of two such runs differ in their bits (printed by tensor).
size_t bit_differences(const std::vector<Outputs>& a, const std::vector<Outputs>& b) {
  static const char* const names[] = {"out", "dx", "pool", "grad_norm", "step_stats"};
  size_t n = 0;
  for (size_t o = 0; o < a.size() && o < b.size(); ++o)
    for (size_t t = 0; t < a[o].values.size(); ++t) {
      const std::vector<float>&va = a[o].values[t], &vb = b[o].values[t];
      EXPECT_EQ(va.size(), vb.size());
      size_t d = 0;
      for (size_t i = 0; i < va.size() && i < vb.size(); ++i)
        d += std::memcmp(&va[i], &vb[i], sizeof(float)) != 0 ? 1 : 0;
      std::printf("  objective %zu, %s: %zu of %zu values differ in their bits\n", o, names[t], d,
                  va.size());
      n += d;
    }
  return n;
}

class IrCuda : public ::testing::TestWithParam<Case> {};

// One forward and backward on both devices, under both training objectives.
void run_and_compare(testing::IrRig& cpu, testing::IrRig& gpu) {
  for (const TrainingObjective obj :
       {TrainingObjective::reconstruction, TrainingObjective::task_gradient}) {
    SCOPED_TRACE(static_cast<int>(obj));
    ops::MorphLayerBuffers Lc = cpu.layer.buffers(), Lg = gpu.layer.buffers();
    Lc.training_objective = Lg.training_objective = static_cast<int32_t>(obj);
    const ops::MorphForwardOptions opt;
    ops::morph_forward(Lc, cpu.x, cpu.out, opt);
    ops::morph_forward(Lg, gpu.x, gpu.out, opt);
    expect_close(gpu.out, cpu.out, "out");
    ops::morph_backward(Lc, cpu.x, cpu.dy, &cpu.dx, true);
    ops::morph_backward(Lg, gpu.x, gpu.dy, &gpu.dx, true);
    expect_close(gpu.dx, cpu.dx, "dx");
    expect_close(Lg.pool, Lc.pool, "pool (parameters and gradients)");
    expect_close(Lg.grad_norm, Lc.grad_norm, "grad_norm");
    // [s][0] is the input mean square (the fused kernels' float sums), [s][1] the isolated loss
    // or the task_gradient measurement.
    expect_close(Lg.step_stats, Lc.step_stats, "step_stats", 1e-3f);
  }
}

TEST_P(IrCuda, GeneratedKernelsMatchTheCpuTwins) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int32_t K = testing::register_ir(GetParam().file, GetParam().name);
  const int64_t B = 300;  // more rows than a block's threads, not a multiple of them
  testing::IrRig cpu({K}, GetParam().chunk, B, Device::cpu(), K);
  testing::IrRig gpu({K}, GetParam().chunk, B, Device::cuda(0), K);
  REQUIRE_MODULE(gpu.layer);
  if (interpreted(gpu.layer)) GTEST_SKIP() << gpu.layer.module_notes()[0];
  ASSERT_EQ(gpu.layer.buffers().modules.size(), 1u);
  // Its kernel record (the bus's kernel event): a cache level, the 64-hex key, a time.
  ASSERT_EQ(gpu.layer.kernel_records().size(), 1u);
  const ops::KernelRecord& rec = gpu.layer.kernel_records()[0];
  EXPECT_TRUE(rec.level == "memory" || rec.level == "disk" || rec.level == "compiled") << rec.level;
  EXPECT_EQ(rec.key.size(), 64u);
  EXPECT_EQ(rec.key.find_first_not_of("0123456789abcdef"), std::string::npos) << rec.key;
  EXPECT_EQ(rec.chunk, GetParam().chunk);
  EXPECT_EQ(rec.blueprint, GetParam().name);
  EXPECT_GE(rec.ms, 0.0);
  EXPECT_NE(rec.launch.find("forward b"), std::string::npos) << rec.launch;
  std::printf("  %s\n", gpu.layer.module_notes()[0].c_str());
  // Linked when asked for (KASMINA_IR_CODEGEN=linked) wherever nvJitLink loads.
  if (ops::process_blueprint_compiler().codegen_mode() == ops::CodegenMode::linked &&
      ops::NvJitLink::get()) {
    EXPECT_NE(gpu.layer.module_notes()[0].find(", linked"), std::string::npos)
        << gpu.layer.module_notes()[0];
  }
  run_and_compare(cpu, gpu);
}

// KASMINA_IR_CODEGEN for the process compiler, in a scope (layers compile when prepared).
struct Codegen {
  explicit Codegen(ops::CodegenMode m) { ops::process_blueprint_compiler().set_codegen_mode(m); }
  ~Codegen() { ops::process_blueprint_compiler().set_codegen_mode(ops::codegen_mode_from_env()); }
};

// The linked module (row functions called) against the fused one (inlined) on the same
// parameters: the same arithmetic in the same order, so the same values; also counted bit for bit.
TEST_P(IrCuda, LinkedAndFusedModulesAgree) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  if (!ops::NvJitLink::get()) GTEST_SKIP() << ops::NvJitLink::why();
  const int32_t K = testing::register_ir(GetParam().file, GetParam().name);
  const int64_t B = 300;
  const auto rig = [&](ops::CodegenMode m) {
    const Codegen mode(m);
    return std::make_unique<testing::IrRig>(std::vector<int32_t>{K}, GetParam().chunk, B,
                                            Device::cuda(0), K);
  };
  const std::unique_ptr<testing::IrRig> linked = rig(ops::CodegenMode::linked),
                                        fused = rig(ops::CodegenMode::fused);
  REQUIRE_MODULE(linked->layer);
  REQUIRE_MODULE(fused->layer);
  ASSERT_NE(linked->layer.module_notes()[0].find(", linked"), std::string::npos)
      << linked->layer.module_notes()[0];
  ASSERT_NE(fused->layer.module_notes()[0].find(", fused"), std::string::npos)
      << fused->layer.module_notes()[0];
  Tensor pool = fused->layer.buffers().pool;
  pool.copy_from(linked->layer.buffers().pool);
  const std::vector<Outputs> l = run_objectives(*linked), f = run_objectives(*fused);
  EXPECT_EQ(bit_differences(l, f), 0u) << "the linked and fused modules must compute the same bits";
}

INSTANTIATE_TEST_SUITE_P(Blueprints, IrCuda,
                         ::testing::Values(Case{"gated_mlp.yaml", "gated_mlp", 16},
                                           Case{"gated_mlp.yaml", "gated_mlp", 12},
                                           Case{"builtins_ir.yaml", "residual_mlp_ir", 16},
                                           Case{"builtins_ir.yaml", "low_rank_ir", 8},
                                           Case{"builtins_ir.yaml", "diag_scale_ir", 32}),
                         [](const auto& info) {
                           return std::string(info.param.name) + "_C" +
                                  std::to_string(info.param.chunk);
                         });

// A tiered compile (KASMINA_IR_CODEGEN=tiered): a blueprint no cache holds gets the linked kernels
// at prepare and the fused ones when the layer swaps them in; the layer's values are the same bits
// before and after. The blueprint is gated_mlp with an initialiser constant unique to this
// process, so that no earlier run's fused module is on disk.
TEST(IrCudaTiers, TheFusedKernelsReplaceTheLinkedOnesBitForBit) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  if (!ops::NvJitLink::get()) GTEST_SKIP() << ops::NvJitLink::why();
  const Codegen mode(ops::CodegenMode::tiered);
  const fs::path file =
      fs::temp_directory_path() / ("kasmina_tiered_" + std::to_string(::getpid()) + ".yaml");
  const double unique =
      1e-3 * static_cast<double>(::getpid() % 997 + 1) +
      1e-9 *
          static_cast<double>(std::chrono::steady_clock::now().time_since_epoch().count() % 999983);
  {
    std::ofstream out(file);
    static int probes = 0;  // a name of its own per run of the test (--gtest_repeat)
    out << "blueprints:\n  tiered_probe_" << ++probes
        << ":\n    inputs: {x: [C]}\n"
           "    params: {W1: [h, C], b1: {shape: [h], init: constant("
        << std::setprecision(17) << unique
        << ")}, W2: [C, h], Wg: [h, C]}\n    nodes:\n"
           "      - {op: linear, in: x, weight: W1, bias: b1, out: u}\n"
           "      - {op: gelu, in: u, out: a}\n"
           "      - {op: linear, in: x, weight: Wg, out: gate}\n"
           "      - {op: sigmoid, in: gate, out: s}\n"
           "      - {op: mul, in: [a, s], out: m}\n"
           "      - {op: linear, in: m, weight: W2, out: y, init: zeros}\n"
           "    output: y\n";
  }
  const int32_t K = ir::register_graph(load_blueprint_file(file.string()).at(0));
  fs::remove(file);
  testing::IrRig rig({K}, 16, 300, Device::cuda(0), K);
  REQUIRE_MODULE(rig.layer);
  const std::string note = rig.layer.module_notes()[0];
  ASSERT_TRUE(rig.layer.upgrades_pending()) << note;
  EXPECT_NE(note.find(", linked"), std::string::npos) << note;
  EXPECT_NE(note.find("its fused kernels compile in the background"), std::string::npos) << note;
  const std::vector<Outputs> linked = run_objectives(rig);
  const std::vector<std::string> said = rig.layer.upgrade_kernels(true);
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("replaces its linked kernels"), std::string::npos) << said[0];
  EXPECT_NE(said[0].find(", fused"), std::string::npos) << said[0];
  EXPECT_FALSE(rig.layer.upgrades_pending());
  EXPECT_TRUE(rig.layer.upgrade_kernels(false).empty());
  // A second kernel record (the bus's next kernel event): the fused kernels' key and level.
  ASSERT_EQ(rig.layer.kernel_records().size(), 2u);
  const ops::KernelRecord& before = rig.layer.kernel_records()[0];
  const ops::KernelRecord& after = rig.layer.kernel_records()[1];
  EXPECT_NE(after.key, before.key);
  EXPECT_EQ(after.blueprint, before.blueprint);
  EXPECT_EQ(after.level, "compiled");
  EXPECT_NE(after.detail.find("replace the linked ones"), std::string::npos) << after.detail;
  const std::vector<Outputs> fused = run_objectives(rig);
  EXPECT_EQ(bit_differences(linked, fused), 0u);
}

// residual_mlp_ir, low_rank_ir and diag_scale_ir pack their parameters as the built-ins do: with
// the same parameters, the generated kernels give what the hand-written fused kernels give.
TEST(IrCudaBuiltins, IrRestatementsMatchTheBuiltinKernels) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const std::pair<const char*, BlueprintKind> pairs[] = {
      {"residual_mlp_ir", BlueprintKind::residual_mlp},
      {"low_rank_ir", BlueprintKind::low_rank},
      {"diag_scale_ir", BlueprintKind::diag_scale}};
  for (const auto& [name, builtin] : pairs) {
    SCOPED_TRACE(name);
    const int32_t K = testing::register_ir("builtins_ir.yaml", name);
    const int32_t B0 = static_cast<int32_t>(builtin);
    testing::IrRig hand({B0}, 16, 256, Device::cuda(0), B0);
    testing::IrRig gen({K}, 16, 256, Device::cuda(0), K);
    REQUIRE_MODULE(gen.layer);
    ASSERT_EQ(hand.layer.buffers().pool_region, gen.layer.buffers().pool_region);
    Tensor pool = gen.layer.buffers().pool;
    pool.copy_from(hand.layer.buffers().pool);  // the built-in's parameters, slot for slot
    run_and_compare(hand, gen);
  }
}

// The generated kernels from PTX (KASMINA_IR_TARGET=ptx: what a device newer than NVRTC, or a
// cubin the driver refuses, gets; the driver compiles the PTX when it loads it).
TEST(IrCudaPtx, KernelsFromPtxMatchTheCpuTwins) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int32_t K = testing::register_ir("gated_mlp.yaml", "gated_mlp");
  testing::IrRig cpu({K}, 16, 300, Device::cpu(), K);
  ::setenv("KASMINA_IR_TARGET", "ptx", 1);
  testing::IrRig gpu({K}, 16, 300, Device::cuda(0), K);
  ::unsetenv("KASMINA_IR_TARGET");
  REQUIRE_MODULE(gpu.layer);
  if (interpreted(gpu.layer)) GTEST_SKIP() << gpu.layer.module_notes()[0];
  ASSERT_EQ(gpu.layer.kernel_records().size(), 1u);
  EXPECT_NE(gpu.layer.kernel_records()[0].launch.find(", from PTX for compute_"), std::string::npos)
      << gpu.layer.kernel_records()[0].launch;
  run_and_compare(cpu, gpu);
}

class IrCudaBuiltinStep : public ::testing::TestWithParam<Case> {};

// The fallback chain's built-in step (KASMINA_IR_BACKEND=builtin: NVRTC never asked): a
// restatement's seeds computed by the fused seed kernels as the built-in, beside a built-in seed
// of another kind in the same layer, against the CPU twins (which run the IR interpreter).
TEST_P(IrCudaBuiltinStep, RestatementRunsAsTheBuiltinAgainstTheCpuTwins) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int32_t K = testing::register_ir(GetParam().file, GetParam().name);
  const int64_t B = 300;
  testing::IrRig cpu({K}, GetParam().chunk, B, Device::cpu(), K);
  const Backend forced("builtin");
  testing::IrRig gpu({K}, GetParam().chunk, B, Device::cuda(0), K);
  ASSERT_EQ(gpu.layer.buffers().modules.size(), 1u);
  EXPECT_NE(gpu.layer.buffers().modules[0]->describe().find("fused seed kernels as"),
            std::string::npos);
  ASSERT_EQ(gpu.layer.kernel_records().size(), 1u);
  EXPECT_EQ(gpu.layer.kernel_records()[0].level, "builtin");
  run_and_compare(cpu, gpu);
}

INSTANTIATE_TEST_SUITE_P(Blueprints, IrCudaBuiltinStep,
                         ::testing::Values(Case{"builtins_ir.yaml", "residual_mlp_ir", 16},
                                           Case{"builtins_ir.yaml", "residual_mlp_ir", 13},
                                           Case{"builtins_ir.yaml", "low_rank_ir", 7},
                                           Case{"builtins_ir.yaml", "diag_scale_ir", 32}),
                         [](const auto& info) {
                           return std::string(info.param.name) + "_C" +
                                  std::to_string(info.param.chunk);
                         });

class IrCudaInterpreter : public ::testing::TestWithParam<Case> {};

// The fallback chain's interpreter step: the IR-interpreting kernels (forced) against the CPU
// twins, as the generated kernels above; needs no NVRTC.
TEST_P(IrCudaInterpreter, InterpretedKernelsMatchTheCpuTwins) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int32_t K = testing::register_ir(GetParam().file, GetParam().name);
  const int64_t B = 300;
  testing::IrRig cpu({K}, GetParam().chunk, B, Device::cpu(), K);
  const Backend forced("interpreter");
  testing::IrRig gpu({K}, GetParam().chunk, B, Device::cuda(0), K);
  ASSERT_TRUE(interpreted(gpu.layer));
  ASSERT_FALSE(gpu.layer.kernel_records().empty());
  EXPECT_EQ(gpu.layer.kernel_records()[0].level, "interpreter");
  run_and_compare(cpu, gpu);
}

// The interpreted kernels against the generated ones on the same parameters (skips without NVRTC).
TEST_P(IrCudaInterpreter, InterpretedKernelsMatchTheGeneratedKernels) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int32_t K = testing::register_ir(GetParam().file, GetParam().name);
  const int64_t B = 300;
  testing::IrRig gen({K}, GetParam().chunk, B, Device::cuda(0), K);
  REQUIRE_MODULE(gen.layer);
  if (interpreted(gen.layer)) GTEST_SKIP() << gen.layer.module_notes()[0];
  const Backend forced("interpreter");
  testing::IrRig interp({K}, GetParam().chunk, B, Device::cuda(0), K);
  ASSERT_TRUE(interpreted(interp.layer));
  Tensor pool = interp.layer.buffers().pool;
  pool.copy_from(gen.layer.buffers().pool);
  run_and_compare(gen, interp);
}

INSTANTIATE_TEST_SUITE_P(Blueprints, IrCudaInterpreter,
                         ::testing::Values(Case{"gated_mlp.yaml", "gated_mlp", 16},
                                           Case{"gated_mlp.yaml", "gated_mlp", 13},
                                           Case{"builtins_ir.yaml", "residual_mlp_ir", 16},
                                           Case{"builtins_ir.yaml", "low_rank_ir", 7},
                                           Case{"builtins_ir.yaml", "diag_scale_ir", 32}),
                         [](const auto& info) {
                           return std::string(info.param.name) + "_C" +
                                  std::to_string(info.param.chunk);
                         });

// A germination on the GPU initialises the IR slot as the CPU twin does, bit for bit.
TEST(IrCudaLifecycle, GerminationInitialisesTheSlotAsOnTheCpu) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int32_t K = testing::register_ir("gated_mlp.yaml", "gated_mlp");
  const MorphConfig cfg = testing::IrRig::config({K}, 16);
  KasminaLayer cpu(cfg), gpu(cfg);
  cpu.prepare(4, Device::cpu());
  gpu.prepare(4, Device::cuda(0));
  REQUIRE_MODULE(gpu);
  testing::StepClock cc(Device::cpu(), 77), gc(Device::cuda(0), 77);
  for (KasminaLayer* l : {&cpu, &gpu}) {
    l->germinate(3, testing::as_kind(K));
    l->germinate(5, BlueprintKind::residual_mlp);
  }
  cpu.end_step(cc.ctx);
  gpu.end_step(gc.ctx);
  const std::vector<float> a = gpu.buffers().pool.to_vector<float>();
  const std::vector<float> b = cpu.buffers().pool.to_vector<float>();
  ASSERT_EQ(a, b);
  int nonzero = 0;
  for (float v : b) nonzero += v != 0.0f ? 1 : 0;
  EXPECT_GT(nonzero, 16 * 4) << "gated_mlp's W1, Wg and b1 are drawn";
}

// The module's launches are recorded by graph capture and replay to the same bits.
TEST(IrCudaGraph, ReplayMatchesPlainLaunchesBitwise) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int32_t K = testing::register_ir("gated_mlp.yaml", "gated_mlp");
  testing::IrRig gpu({K}, 16, 512, Device::cuda(0), K);
  REQUIRE_MODULE(gpu.layer);
  const ops::MorphLayerBuffers& L = gpu.layer.buffers();
  auto step = [&] {
    ops::morph_forward(L, gpu.x, gpu.out, ops::MorphForwardOptions{});
    ops::morph_backward(L, gpu.x, gpu.dy, &gpu.dx, true);
  };
  auto snapshot = [&] {
    return std::vector<std::vector<float>>{gpu.out.to_vector<float>(), gpu.dx.to_vector<float>(),
                                           L.pool.to_vector<float>(),
                                           L.grad_norm.to_vector<float>()};
  };
  step();
  const auto first = snapshot();
  ops::fill(gpu.out, 0.0);
  ops::fill(gpu.dx, 0.0);
  testing::expect_graph_replay_equal(Device::cuda(0), step, snapshot, first);
}

}  // namespace
}  // namespace kasmina::morph
