// The autotuner of the generated seed kernels (ops/blueprint_tuning.hpp): a synthetic layer on
// the device (every active seed blended and training, so each launch does the most work a seed
// can ask of it), every candidate block size timed with CUDA events, all results and the winners
// stored in the performance database.
#include <cuda_runtime.h>

#include "ir/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/seed_state.hpp"
#include "morph/stage.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/cuda/ir_module.hpp"
#include "ops/morph/blueprint_module.hpp"

namespace kasmina::ops {

namespace {

constexpr int32_t kTuneKind = 0;  // the kind the synthetic seeds carry (any value works)

MorphLayerBuffers synthetic_layer(const ir::Plan& plan, Device dev, int32_t seeds, int32_t active) {
  MorphLayerBuffers L;
  L.seeds = seeds;
  L.shape = plan.shape;
  std::vector<int32_t> state(static_cast<size_t>(morph::kSeedFieldCount) * seeds, 0);
  const morph::SeedStateView v = morph::make_seed_state_view(state.data(), seeds);
  for (int32_t s = 0; s < seeds; ++s) {
    v.blueprint[s] = s < active ? kTuneKind : -1;
    v.stage[s] = static_cast<int32_t>(s < active ? morph::Stage::grafting : morph::Stage::dormant);
    v.slot[s] = s < active ? s : -1;
    v.alpha[s] = s < active ? 0.5f : 0.0f;
  }
  L.state = Tensor::from_vector(state, {morph::kSeedFieldCount, seeds}, dev);
  L.pool_slots = std::max(active, 1);
  L.pool_region = morph::pool_region_width(plan.param_count);
  L.pool =
      Tensor::zeros({static_cast<int64_t>(L.pool_slots) * L.pool_region * morph::kPoolRegionCount},
                    DType::f32, dev);
  L.slot_owner = Tensor::zeros({L.pool_slots}, DType::i32, dev);
  L.step_stats = Tensor::zeros({seeds, kMorphStepStats}, DType::f32, dev);
  L.grad_norm = Tensor::zeros({seeds}, DType::f32, dev);
  L.eval_zero = Tensor::zeros({seeds}, DType::u8, dev);
  return L;
}

// Microseconds per launch of `kernel` with `threads` threads.
double time_launches(const void* kernel, const IrSeedArgs& a, int32_t threads, int64_t smem,
                     int32_t grid, cudaStream_t stream, int32_t repeats) {
  for (int i = 0; i < 2; ++i) cuda::launch_seed_kernel(kernel, a, threads, smem, grid, stream);
  cudaEvent_t start = nullptr, stop = nullptr;
  KASMINA_CUDA_CHECK(cudaEventCreate(&start));
  KASMINA_CUDA_CHECK(cudaEventCreate(&stop));
  KASMINA_CUDA_CHECK(cudaEventRecord(start, stream));
  for (int32_t i = 0; i < repeats; ++i)
    cuda::launch_seed_kernel(kernel, a, threads, smem, grid, stream);
  KASMINA_CUDA_CHECK(cudaEventRecord(stop, stream));
  KASMINA_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  KASMINA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1000.0 * static_cast<double>(ms) / repeats;
}

}  // namespace

TuneReport tune_blueprint_kernels(const ir::IrBlueprint& bp, const morph::BlueprintShape& sh,
                                  Device dev, int64_t batch, int32_t seeds, int32_t active,
                                  const std::string& db_path, int32_t repeats) {
  TuneReport r;
  const cuda::LoadedIr l = cuda::compile_and_load(bp, sh, dev, true);  // the kernels kept
  r.key = l.compiled.key;
  r.level = compile_level_name(l.compiled.level);
  r.why = l.why;
  if (!l.kernels) return r;
  const cuda::IrKernels* k = l.kernels.get();
  const ir::Plan& plan = bp.plan(sh);
  const int64_t max_smem = l.max_smem;
  const GpuId& gpu = l.gpu;
  const MorphLayerBuffers L = synthetic_layer(plan, dev, seeds, std::min(active, seeds));
  const int64_t H = static_cast<int64_t>(seeds) * sh.chunk;
  Tensor x = Tensor::zeros({batch, H}, DType::f32, dev),
         dy = Tensor::zeros({batch, H}, DType::f32, dev);
  Tensor out = Tensor::zeros({batch, H}, DType::f32, dev);
  cuda::DeviceContext& ctx = cuda::context(dev);
  const int32_t grid = cuda::seed_grid(seeds, L.pool_slots, ctx.sms);
  ir::PerfDb db(db_path);
  for (const bool backward : {false, true}) {
    IrSeedArgs a = seed_kernel_args(L, kTuneKind, x);
    a.out = out.data<float>();
    a.dy = dy.data<float>();
    a.collect = 1;
    a.param_grads = backward ? 1 : 0;
    a.vec = sh.chunk % 4 == 0 ? 1 : 0;  // fresh allocations: aligned
    const void* kernel = backward ? k->backward : k->forward;
    std::vector<ir::Measurement> tried;
    for (const int32_t t :
         tune_candidates(plan, backward, cuda::kernel_limits(*k, backward, max_smem))) {
      const int64_t smem = seed_kernel_smem(plan, backward, t);
      cuda::allow_smem(kernel, smem);
      ir::Measurement m;
      m.config.block = t;
      m.config.rows_per_block = t;
      m.time_us = time_launches(kernel, a, t, smem, grid, ctx.stream, repeats);
      tried.push_back(m);
    }
    if (tried.empty()) {
      r.why = "no block size fits the device's shared memory and registers";
      return r;
    }
    const ir::LaunchConfig best =
        db.record(seed_kernel_perf_key(r.key, backward, batch, sh, gpu), tried);
    (backward ? r.backward : r.forward) = tried;
    (backward ? r.backward_best : r.forward_best) = best.block;
  }
  r.ok = true;
  return r;
}

}  // namespace kasmina::ops
