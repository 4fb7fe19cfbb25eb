// The fused MLP training step (ops/mlp_step_ops.hpp) as one persistent kernel: one thread block
// per SM walks the step's phases (the batch gather, with MlpStepGather; each layer's forward; the
// loss, a row per warp, which with at most 32 classes also computes the logits and the input
// gradient through the last layer (mlp_step_loss.cuh); each layer's backward, its weight gradient
// beside the input gradient through it; the optimizer's update, with MlpStepUpdate
// (mlp_step_ends.cuh)), separated by a grid barrier. A GEMM phase's work items are 32 x 32 output
// tiles (mlp_step_tile.cuh), split along k where the plan (mlp_step_plan.cuh, which also decides
// which backward phase runs each weight gradient) estimates that this shortens the phase; a split
// tile's partial sums go to scratch and the block that takes the tile's last ticket adds them in
// split order and applies the epilogue (bias, ReLU, the ReLU mask of the layer below, the bias
// gradient). Summation orders are fixed: deterministic, and graph-capturable (the barrier's and
// tickets' counters return to zero by the end of every launch). Where the time goes, per phase, on
// the H200: bench/RESULTS.md (KASMINA_MLP_STEP_TRACE=1 prints it).
//
// The grid barrier needs every block resident at once: the grid is at most one block per SM and
// the launcher checks that a block fits on an SM. Other kernels running beside it can delay
// blocks but not deadlock them (they do not wait for this kernel).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/batched_sum.cuh"
#include "kernels/last_block.cuh"
#include "kernels/mlp_step_ends.cuh"
#include "kernels/mlp_step_loss.cuh"
#include "kernels/mlp_step_plan.cuh"
#include "kernels/mlp_step_tile.cuh"
#include "kernels/mlp_step_types.cuh"
#include "kernels/softmax_xent_row.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/cuda/mlp_step_trace.hpp"
#include "ops/mlp_step_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kernels::mlp_step;
namespace mlp = kernels::mlp;
namespace optim = kernels::optim;

// Waits until every block has arrived `target` times in all (target grows by gridDim.x per
// barrier), publishing this block's writes first.
__device__ void grid_barrier(unsigned int* arrivals, unsigned int& target) {
  __syncthreads();
  target += gridDim.x;
  if (threadIdx.x == 0) {  // release: the block's writes (ordered by bar.sync) before arrival
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(arrivals) : "memory");
    unsigned int seen = 0;
    do {  // acquire: the other blocks' writes are visible once their arrivals are
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(arrivals) : "memory");
    } while (seen < target);
  }
  __syncthreads();
}

__device__ const float* layer_input(const StepDev& s, int l) {
  return l == 0 ? s.x : s.layer[l - 1].y;
}

// The operands and sizes of GEMM `gm`: C[m, n] = Σ_k A(m, k) B(n, k).
__device__ void gemm_operands(const StepDev& s, const GemmDev& gm, mlp::Operand& A, mlp::Operand& B,
                              int& M, int& N, int& K) {
  const LayerDev& L = s.layer[gm.layer];
  const float* in = layer_input(s, gm.layer);
  const bool vin = L.in % 4 == 0 && reinterpret_cast<uintptr_t>(in) % 16 == 0;
  const bool vout = L.out % 4 == 0 && reinterpret_cast<uintptr_t>(L.g) % 16 == 0;
  const bool vw = L.in % 4 == 0 && reinterpret_cast<uintptr_t>(L.w) % 16 == 0;
  const GemmDims d = gemm_dims(gm.kind, L.in, L.out, s.rows);
  M = d.M, N = d.N, K = d.K;
  if (gm.kind == kForward) {  // y[r, o] = Σ_i x[r, i] W[o, i]
    A = {in, L.in, s.rows, true, vin};
    B = {L.w, L.in, L.out, true, vw};
  } else if (gm.kind == kInputGrad) {  // g_below[r, i] = Σ_o g[r, o] W[o, i]
    A = {L.g, L.out, s.rows, true, vout};
    B = {L.w, L.in, L.in, false, vw};
  } else {  // dW[o, i] = Σ_r g[r, o] x[r, i]
    A = {L.g, L.out, L.out, false, vout};
    B = {in, L.in, L.in, false, vin};
  }
}

// The epilogue's side input of output (m, n) of GEMM gm (the bias, or the value of the layer
// below whose ReLU masks the input gradient): loaded for all of a thread's outputs before the
// tile's product (run_item), so the loads overlap each other and the product.
__device__ float side_input(const StepDev& s, const GemmDev& gm, int m, int n, int N) {
  const LayerDev& L = s.layer[gm.layer];
  if (gm.kind == kForward) return L.b ? __ldg(L.b + n) : 0.0f;
  if (gm.kind == kInputGrad && s.layer[gm.layer - 1].relu)
    return mlp::load_cg(s.layer[gm.layer - 1].y + static_cast<int64_t>(m) * N + n);
  return 1.0f;
}

// Stores the finished output `at` = v of GEMM gm (bias and ReLU, the mask below, or the weight
// gradient as is); returns the stored value.
__device__ float finish_output(const StepDev& s, const GemmDev& gm, int64_t at, float v,
                               float side) {
  const LayerDev& L = s.layer[gm.layer];
  if (gm.kind == kForward) {
    if (L.b) v += side;
    if (L.relu && !(v > 0.0f)) v = 0.0f;
    L.y[at] = v;
  } else if (gm.kind == kInputGrad) {
    if (!(side > 0.0f)) v = 0.0f;
    L.g_below[at] = v;
  } else {
    L.dw[at] = v;
  }
  return v;
}

// One work item: split `split` of tile `tile` of GEMM gm.
__device__ void run_item(const StepDev& s, const GemmDev& gm, int item, mlp::TileShared& sh) {
  const int tile = item / gm.splits, split = item % gm.splits;
  const int m0 = (tile / gm.tiles_n) * mlp::kTile, n0 = (tile % gm.tiles_n) * mlp::kTile;
  mlp::Operand A, B;
  int M, N, K;
  gemm_operands(s, gm, A, B, M, N, K);
  const bool row_sums = gm.kind == kWeightGrad && n0 == 0 && s.layer[gm.layer].db != nullptr;
  const int k_begin = split * gm.k_per, k_end = min(K, k_begin + gm.k_per);
  // The epilogue's side inputs (the bias, or the layer below's values for its ReLU mask: all
  // written before this phase) are loaded first, so their latency hides behind the product's.
  constexpr int kPer = mlp::kTileOutputs / mlp::kThreads;
  float side[kPer];
#pragma unroll
  for (int q = 0; q < kPer; ++q) {
    const int e = q * mlp::kThreads + threadIdx.x;
    const int m = m0 + e / mlp::kTile, n = n0 + e % mlp::kTile;
    side[q] = m < M && n < N ? side_input(s, gm, m, n, N) : 0.0f;
  }
  float acc[4][4], rsum[4];
  mlp::tile_product(A, B, m0, n0, k_begin, k_end, row_sums, sh, acc, rsum);
  mlp::tile_reduce(A.k_major, B.k_major, row_sums, acc, rsum, sh);
  float* sums = sh.a;  // kPartialFloats: the tile, then the row sums
  if (gm.splits > 1) {
    float* mine = s.partials + static_cast<int64_t>(gm.partial0 + item) * kPartialFloats;
    for (int e = threadIdx.x; e < kPartialFloats; e += mlp::kThreads) mine[e] = sums[e];
    if (!kernels::last_block(s.tickets + 2 + gm.ticket0 + tile, static_cast<unsigned>(gm.splits)))
      return;
    const float* first =
        s.partials + static_cast<int64_t>(gm.partial0 + tile * gm.splits) * kPartialFloats;
    for (int e = threadIdx.x; e < kPartialFloats; e += mlp::kThreads) {
      sums[e] = kernels::batched_sum<8>(mlp::load_cg(first + e), 1, gm.splits, 1, [&](int q) {
        return mlp::load_cg(first + q * kPartialFloats + e);
      });
    }
    if (threadIdx.x == 0) s.tickets[2 + gm.ticket0 + tile] = 0u;
    __syncthreads();
  }
#pragma unroll
  for (int q = 0; q < kPer; ++q) {
    const int e = q * mlp::kThreads + threadIdx.x;
    const int m = m0 + e / mlp::kTile, n = n0 + e % mlp::kTile;
    if (m < M && n < N) finish_output(s, gm, static_cast<int64_t>(m) * N + n, sums[e], side[q]);
  }
  if (row_sums) {
    for (int ml = threadIdx.x; ml < mlp::kTile && m0 + ml < M; ml += mlp::kThreads)
      s.layer[gm.layer].db[m0 + ml] = sums[mlp::kTileOutputs + ml];
  }
  __syncthreads();  // sh is reused by the next item
}

__global__ void __launch_bounds__(mlp::kThreads, 1)
    mlp_step_kernel(const __grid_constant__ StepDev s) {
  __shared__ mlp::TileShared sh;
  __shared__ UpdateCoefficients coef;
  __shared__ optim::ChunkRef first_chunk;
  // The update's coefficients depend only on the step counter, which no phase changes, and the
  // block's first chunk of the update is known from the start: two threads read them now, off
  // the update phase's path, each waiting only on its own loads (the last two threads: idle in
  // most gather rows).
  if (s.updates && threadIdx.x == mlp::kThreads - 1) coef = update_coefficients(s);
  if (s.updates && threadIdx.x == mlp::kThreads - 2)
    prefetch_first_chunk(s.update.table, first_chunk);
  unsigned int target = 0;
  for (int p = 0; p < s.phases; ++p) {
    if (p > 0) grid_barrier(s.tickets, target);
    trace_time(s, p, 0);
    const PhaseDev& ph = s.phase[p];
    if (ph.add_losses && blockIdx.x == gridDim.x - 1)
      kernels::add_rows<mlp::kThreads>(s.row_loss, s.row_hit, s.rows, s.loss_sum, s.correct);
    if (ph.work == kGatherPhase) {
      gather_phase(s);
    } else if (ph.work == kUpdatePhase) {
      update_phase(s, coef, first_chunk);
    } else if (ph.work == kLossPhase) {
      loss_phase(s, sh.a);
    } else {
      int total = 0;
      for (int q = 0; q < ph.gemms; ++q) total += ph.gemm[q].items;
      for (int it = blockIdx.x; it < total; it += gridDim.x) {
        int q = 0, at = it;
        while (at >= ph.gemm[q].items) at -= ph.gemm[q++].items;
        run_item(s, ph.gemm[q], at, sh);
      }
    }
    trace_time(s, p, 1);
  }
  // The last block out advances the update's counters (every block has read the step counter
  // and the cursor by now) and resets the barrier for the next launch.
  if (!kernels::last_block(s.tickets + 1, gridDim.x)) return;
  if (s.updates) optim::advance_counters(s.update.table);
  if (threadIdx.x == 0) {
    s.tickets[0] = 0u;
    s.tickets[1] = 0u;
  }
}

// Checks once per device that a block fits on an SM (the grid barrier needs all resident).
void check_residency(Device dev) {
  static bool checked[64] = {};
  if (dev.index < 64 && checked[dev.index]) return;
  int blocks = 0;
  KASMINA_CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, mlp_step_kernel, mlp::kThreads, 0));
  KASMINA_CHECK(blocks >= 1, "mlp_train_step: a block of the fused MLP step does not fit on an SM");
  if (dev.index < 64) checked[dev.index] = true;
}

}  // namespace

void mlp_train_step(const MlpStepArgs& a) {
  constexpr const char* op = "mlp_train_step";
  const int64_t rows = check_mlp_train_step(a);
  const Device dev = a.x->device();
  check_arg(op, "x", *a.x, dev, DType::f32);
  DeviceContext& ctx = context(dev);
  GatherShape gs;
  if (a.gather)
    gs = check_gather_batch(op, *a.gather->images, *a.gather->labels, *a.gather->perm,
                            *a.gather->cursor, *a.x, *a.labels);
  if (a.update) check_optimizer_plan(op, *a.update->plan, !a.update->sgd, *a.update->step);
  if (rows == 0) {  // no rows: the gradients are sums of nothing; the update still applies
    for (const MlpLayerRefs& L : a.layers) {
      KASMINA_CUDA_CHECK(cudaMemsetAsync(L.dw->raw(), 0, L.dw->nbytes(), ctx.stream));
      if (L.db) KASMINA_CUDA_CHECK(cudaMemsetAsync(L.db->raw(), 0, L.db->nbytes(), ctx.stream));
    }
    if (const MlpStepUpdate* u = a.update) {
      if (u->sgd)
        ops::sgd_step(*u->plan, u->sgd_hyper, u->schedule, *u->step);
      else
        ops::adamw_step(*u->plan, u->adamw, u->schedule, *u->step);
    }
    return;
  }
  KASMINA_CHECK(rows <= (int64_t{1} << 30), std::string(op) + ": too many rows");
  const int n = static_cast<int>(a.layers.size());
  const int grid = std::min(num_sms(dev), kMlpStepMaxBlocks);
  StepDev s{};
  s.layers = n;
  s.x = a.x->data<float>();
  s.labels = a.labels->data<int32_t>();
  s.rows = static_cast<int>(rows);
  s.classes = static_cast<int>(a.layers.back().w->dim(0));
  s.grad_scale = a.grad_scale;
  s.dlogits = a.dlogits->data<float>();
  s.loss_sum = a.loss_sum->data<double>();
  s.correct = a.correct ? a.correct->data<int64_t>() : nullptr;
  for (int l = 0; l < n; ++l) {
    const MlpLayerRefs& L = a.layers[static_cast<size_t>(l)];
    LayerDev& d = s.layer[l];
    d.w = L.w->data<float>();
    d.b = L.b ? L.b->data<float>() : nullptr;
    d.y = L.y->data<float>();
    d.dw = L.dw->data<float>();
    d.db = L.db ? L.db->data<float>() : nullptr;
    d.g = l == n - 1 ? s.dlogits : a.dpre[static_cast<size_t>(l)]->data<float>();
    d.g_below = l > 0 ? a.dpre[static_cast<size_t>(l - 1)]->data<float>() : nullptr;
    d.in = static_cast<int>(L.w->dim(1));
    d.out = static_cast<int>(L.w->dim(0));
    d.relu = L.act == Activation::relu ? 1 : 0;
  }
  // The loss phase stages the last layer's weight in shared memory at row stride in + 1.
  s.dx_in_loss = s.classes <= 32 && n >= 2 &&
                         s.classes * (s.layer[n - 1].in + 1) <= mlp::kOperandFloats &&
                         mlp_step_dx_in_loss()
                     ? 1
                     : 0;
  s.logits_in_loss = s.dx_in_loss && mlp_step_logits_in_loss() ? 1 : 0;
  if (a.gather) {
    GatherDev& g = s.gather;
    g.images = a.gather->images->raw();
    g.labels = a.gather->labels->data<int32_t>();
    g.perm = a.gather->perm->data<int32_t>();
    g.cursor = a.gather->cursor->data<int64_t>();
    g.count = gs.count, g.width = gs.width;
    g.scale = a.gather->scale, g.shift = a.gather->shift;
    g.u8 = a.gather->images->dtype() == DType::u8 ? 1 : 0;
    g.vectorised = gs.vectorised ? 1 : 0;
    g.x = a.x->data<float>();
    g.y = a.labels->data<int32_t>();
    s.gathers = 1;
  }
  if (a.update) {
    UpdateDev& u = s.update;
    u.table = optimizer_table(*a.update->plan);
    u.sgd = a.update->sgd ? 1 : 0;
    u.adamw = a.update->adamw;
    u.sgd_hyper = a.update->sgd_hyper;
    u.schedule = a.update->schedule;
    u.step = a.update->step->data<int64_t>();
    s.updates = 1;
  }
  PlanOptions plan;
  plan.grid = grid;
  plan.split_cost = mlp_step_split_cost();
  plan.late_weight_grads = mlp_step_late_weight_grads();
  PlanInput in;
  in.layers = n, in.rows = s.rows;
  for (int l = 0; l < n; ++l) in.in[l] = s.layer[l].in, in.out[l] = s.layer[l].out;
  in.dx_in_loss = s.dx_in_loss, in.logits_in_loss = s.logits_in_loss;
  in.gather = s.gathers, in.update = s.updates;
  // The last launch's plan while the problem is the same (a plan costs a few us of host time).
  thread_local struct {
    PlanInput in;
    PlanOptions options;
    StepPlan steps;
    PlanScratch need;
    bool made = false;
  } last;
  if (!last.made || !(last.in == in) || !(last.options == plan)) {
    last.need = plan_step(in, plan, last.steps);
    last.in = in, last.options = plan, last.made = true;
  }
  const PlanScratch need = last.need;
  std::copy(last.steps.phase, last.steps.phase + last.steps.phases, s.phase);
  s.phases = last.steps.phases;
  const int max_partials = need.partials;
  KASMINA_CHECK(need.tickets <= kMlpStepMaxBlocks, std::string(op) + ": too many split tiles");
  const size_t loss_bytes = static_cast<size_t>(rows) * (sizeof(double) + sizeof(int32_t));
  const size_t partial_at = (loss_bytes + 255) / 256 * 256;
  auto* buffer = static_cast<char*>(scratch(
      ctx, partial_at + static_cast<size_t>(max_partials) * kPartialFloats * sizeof(float)));
  s.row_loss = reinterpret_cast<double*>(buffer);
  s.row_hit = reinterpret_cast<int32_t*>(buffer + static_cast<size_t>(rows) * sizeof(double));
  s.partials = reinterpret_cast<float*>(buffer + partial_at);
  s.tickets = ctx.tickets + kTicketMlpStep;
  check_residency(dev);
  if (!mlp_step_trace_on()) {
    mlp_step_kernel<<<grid, mlp::kThreads, 0, ctx.stream>>>(s);
    KASMINA_CUDA_CHECK(cudaGetLastError());
    return;
  }
  Tensor trace = Tensor::zeros({static_cast<int64_t>(s.phases) * grid * 2}, DType::i64, dev);
  s.trace = static_cast<unsigned long long*>(trace.raw());
  mlp_step_kernel<<<grid, mlp::kThreads, 0, ctx.stream>>>(s);
  KASMINA_CUDA_CHECK(cudaGetLastError());
  const std::vector<int64_t> t = trace.to_vector<int64_t>();  // waits for the kernel
  std::vector<std::string> names;
  const char* kind_name[] = {"fwd", "dx", "dw"};
  for (int p = 0; p < s.phases; ++p) {
    const char* work_name[] = {"", s.logits_in_loss ? "logits + loss" : "loss", "gather", "update"};
    std::string name = work_name[s.phase[p].work];
    for (int q = 0; q < s.phase[p].gemms; ++q) {
      const GemmDev& g = s.phase[p].gemm[q];
      name += std::string(q ? " + " : "") + kind_name[g.kind] + std::to_string(g.layer) + " " +
              std::to_string(g.tiles_m * g.tiles_n) + "x" + std::to_string(g.splits);
    }
    names.push_back(name);
  }
  print_mlp_step_trace(std::vector<uint64_t>(t.begin(), t.end()), grid, names);
}

}  // namespace kasmina::ops::cuda
