#include "ops/cuda/conv_tune.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ir/perf_db.hpp"
#include "ops/blueprint_tuning.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/ir_module.hpp"
#include "ops/timer.hpp"

namespace kasmina::ops::cuda {

namespace {

// A candidate as the database's launch configuration: block = the cuDNN algorithm, rows per
// block = its math type.
ir::LaunchConfig config_of(const ConvAlgo& a) {
  ir::LaunchConfig c;
  c.block = a.algo;
  c.rows_per_block = static_cast<int32_t>(a.math);
  return c;
}

ir::PerfKey conv_key(const DeviceContext& ctx, const ConvGeometry& g, const char* direction,
                     bool bf16) {
  const GpuId gpu = gpu_id(Device::cuda(ctx.index), nullptr, nullptr);
  ir::PerfKey k;
  k.kernel = std::string("cudnn ") + std::to_string(cudnnGetVersion()) + " convolution " +
             direction + " n" + std::to_string(g.n) + " " + std::to_string(g.h) + "x" +
             std::to_string(g.w) + "x" + std::to_string(g.cin) + " -> " + std::to_string(g.cout) +
             " k" + std::to_string(g.k) + " s" + std::to_string(g.stride) + " p" +
             std::to_string(g.padding) + " g" + std::to_string(g.groups) +
             (bf16                         ? " bf16"
              : ctx.math == MathMode::fp32 ? " fp32"
                                           : " tf32") +
             (ctx.deterministic ? " deterministic" : "");
  k.shape = {g.n * g.ho * g.wo, g.cin, g.cout};
  k.gpu = gpu.name;
  k.sm_count = gpu.sms;
  k.driver = gpu.driver;
  return k;
}

// Moves the candidate matching `w` to the front (the others keep their order).
void promote(ConvDirection& dir, const ir::LaunchConfig& w) {
  const auto it = std::find_if(dir.candidates.begin(), dir.candidates.end(),
                               [&](const ConvAlgo& a) { return config_of(a) == w; });
  if (it != dir.candidates.end()) std::rotate(dir.candidates.begin(), it, it + 1);
}

}  // namespace

void order_by_measurement(DeviceContext& ctx, const ConvGeometry& g, const char* direction,
                          const ConvPlan& plan, ConvDirection& dir, const ConvTrial& trial) {
  const cudnnConvolutionDescriptor_t conv = plan.conv;
  if (dir.candidates.size() < 2) return;
  const Autotune mode = autotune_mode();
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  KASMINA_CUDA_CHECK(cudaStreamIsCapturing(ctx.stream, &capturing));
  if (capturing != cudaStreamCaptureStatusNone) return;  // (the first call runs outside one)
  const std::string path = default_perf_db_path();
  std::error_code ec;
  if (mode == Autotune::off && !std::filesystem::exists(path, ec)) return;  // (not created)
  std::unique_ptr<ir::PerfDb> db;
  try {
    db = std::make_unique<ir::PerfDb>(path);
  } catch (const std::exception&) {
    return;  // no database: the heuristic order
  }
  const ir::PerfKey key = conv_key(ctx, g, direction, plan.bf16);
  if (mode != Autotune::exhaustive) {
    if (const auto w = db->winner(key)) {
      promote(dir, *w);
      return;
    }
  }
  if (mode == Autotune::off) return;
  DeviceTimer timer(Device::cuda(ctx.index));  // events on ctx.stream, where cuDNN runs
  std::vector<ir::Measurement> tried;
  for (const ConvAlgo& a : dir.candidates) {
    KASMINA_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
    void* ws = a.workspace_bytes ? scratch(ctx, a.workspace_bytes) : nullptr;
    if (trial(a, ws) != CUDNN_STATUS_SUCCESS) continue;  // one cuDNN cannot run: not a candidate
    timer.start();
    bool ok = true;
    for (int r = 0; r < kConvTuneRepeats && ok; ++r) ok = trial(a, ws) == CUDNN_STATUS_SUCCESS;
    const double seconds = timer.stop();
    if (ok) tried.push_back({config_of(a), 1e6 * seconds / kConvTuneRepeats});
  }
  if (!tried.empty()) promote(dir, db->record(key, tried));
}

}  // namespace kasmina::ops::cuda
