// The lifecycle step of a layer in ONE block (the per-seed work is small; one block keeps the
// event order deterministic and identical to the CPU twin): pass A over seeds in tiles of the
// block size with an exclusive scan placing each tile's events in seed order; pass B grants
// training slots in seed order (scan of candidates); then thread 0 applies the queued host
// commands in order while the whole block initialises each accepted germination's slot.
// Pass A's snapshots and rollbacks are applied in two parts: each seed's thread updates the seed
// state, then the whole block shares the copies of the tile's parameter regions.
// Bytes: the state (76*S), step stats and grad norms (12*S), events written, and for each
// germination / snapshot / rollback the slot's parameter regions.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "ir/init.hpp"
#include "kernels/morph/morph_kernel_common.cuh"
#include "morph/lifecycle_commands.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;

constexpr int kThreads = 512;
constexpr int kInFlight = 4;  // region values each thread loads before it stores

// The region work queued by a tile's transitions (snapshots, restores), shared by the block:
// value idx of the flattened list is value idx % region of entry idx / region. Each thread
// issues the loads of kInFlight values before their stores.
__device__ void share_region_work(const PoolView<float>& pool, const int32_t* slots,
                                  const RegionWork* works, int32_t entries) {
  const int32_t n = pool.region;
  const int32_t total = entries * n;
  for (int32_t base = threadIdx.x; base < total; base += kThreads * kInFlight) {
    float v[kInFlight][3];
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const int32_t idx = base + u * kThreads;
      if (idx < total)
        load_region_values(pool, slots[idx / n], region_move(works[idx / n]), idx % n, v[u]);
    }
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const int32_t idx = base + u * kThreads;
      if (idx < total)
        store_region_values(pool, slots[idx / n], region_move(works[idx / n]), idx % n, v[u]);
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    morph_lifecycle_kernel(SeedStateView st, PoolView<float> pool,
                           const float* __restrict__ step_stats, const float* __restrict__ gnorm,
                           const int64_t* __restrict__ step, const int32_t* __restrict__ loss_alarm,
                           LifecycleParams lp, GraftingParams gp, LayerRules rules,
                           bool stats_fresh, bool grads_fresh, EventRingHeader* ring_header,
                           MorphEvent* ring, int32_t ring_cap, CommandBufferHeader* cmd_header,
                           const MorphCommand* cmds, int32_t cmd_cap, const int32_t* init_table) {
  using Scan = cub::BlockScan<int, kThreads>;
  using Reduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  __shared__ int64_t head;
  __shared__ int32_t training;
  __shared__ int32_t init_slot_s, init_kind_s, init_seed_s;
  __shared__ int32_t work_slot[kThreads];
  __shared__ RegionWork work_kind[kThreads];
  const int64_t now = *step;
  const int32_t alarm = loss_alarm != nullptr ? *loss_alarm : 0;
  const int32_t S = st.seeds;
  if (threadIdx.x == 0) head = ring_header->head;
  __syncthreads();

  // Pass A: time and gates.
  for (int32_t base = 0; base < S; base += kThreads) {
    const int32_t s = base + threadIdx.x;
    TransitionDecision d;
    int32_t from = 0;
    if (s < S) {
      SeedMeasurements m;
      m.loss_alarm = alarm;
      m.stats_fresh = stats_fresh;
      m.input_mean_square = step_stats[s * kMorphStepStats + 0];
      m.iso_loss = step_stats[s * kMorphStepStats + 1];
      m.grads_fresh = grads_fresh;
      m.grad_norm = gnorm[s];
      from = st.stage[s];
      d = advance_seed(st, s, lp, gp, m);
    }
    const int flag = d.to >= 0 ? 1 : 0;
    int pos = 0, total = 0;
    Scan(scan_tmp).ExclusiveSum(flag, pos, total);
    RegionWork work = RegionWork::none;
    if (flag) {
      ring[(head + pos) % ring_cap] = make_event(now, rules.layer, s, from, st.blueprint[s], d);
      work = apply_transition_state(st, s, d.to, pool);
    }
    // The tile's region work, compacted in seed order and shared by the block.
    const int has_work = work != RegionWork::none ? 1 : 0;
    int wpos = 0, works = 0;
    __syncthreads();  // scan_tmp is reused
    Scan(scan_tmp).ExclusiveSum(has_work, wpos, works);
    if (has_work) {
      work_slot[wpos] = st.slot[s];
      work_kind[wpos] = work;
    }
    __syncthreads();
    if (threadIdx.x == 0) head += total;
    share_region_work(pool, work_slot, work_kind, works);
    __syncthreads();
  }

  // Pass B: training slots in seed order.
  int local = 0;
  for (int32_t s = threadIdx.x; s < S; s += kThreads)
    local += st.stage[s] == static_cast<int32_t>(Stage::training) ? 1 : 0;
  const int counted = Reduce(reduce_tmp).Sum(local);
  if (threadIdx.x == 0) training = counted;
  __syncthreads();
  for (int32_t base = 0; base < S; base += kThreads) {
    const int32_t s = base + threadIdx.x;
    const int want = s < S && wants_training_slot(st, s, lp) ? 1 : 0;
    int rank = 0, total = 0;
    Scan(scan_tmp).ExclusiveSum(want, rank, total);
    const int free_slots = lp.max_training_seeds - training;
    const int granted = free_slots <= 0 ? 0 : (total < free_slots ? total : free_slots);
    if (want && rank < granted) {
      const TransitionDecision d = make_decision(Stage::training, Reason::training_slot,
                                                 static_cast<float>(training + rank));
      ring[(head + rank) % ring_cap] =
          make_event(now, rules.layer, s, st.stage[s], st.blueprint[s], d);
      apply_transition(st, s, d.to, pool);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      head += granted;
      training += granted;
    }
    __syncthreads();
  }

  // Host commands in queue order.
  const int32_t count = cmd_header->count < cmd_cap ? cmd_header->count : cmd_cap;
  for (int32_t i = 0; i < count; ++i) {
    if (threadIdx.x == 0) {
      int32_t t = training;
      const CommandOutcome o = apply_command(cmds[i], st, pool, lp, rules, now, &t);
      training = t;
      ring[head % ring_cap] = o.event;
      head += 1;
      init_slot_s = o.init_slot;
      init_kind_s = o.init_blueprint;
      init_seed_s = cmds[i].seed;
    }
    __syncthreads();
    if (init_slot_s >= 0) {
      init_slot(pool, init_slot_s, init_kind_s, rules.shape, rules.run_seed, rules.layer,
                init_seed_s, static_cast<int32_t>(threadIdx.x), kThreads);
      // A blueprint outside the kind table: its initialisers (each thread writes the values
      // init_slot gave it, so no barrier between the two).
      if (init_table && init_kind_s >= 0 && init_kind_s < kMaxBlueprintKinds &&
          init_table[2 * init_kind_s] >= 0) {
        const int32_t* e = init_table + init_table[2 * init_kind_s];
        const int32_t n = min(init_table[2 * init_kind_s + 1], pool.region);
        float* p = pool.at(init_slot_s, PoolRegion::params);
        for (int32_t i = static_cast<int32_t>(threadIdx.x); i < n; i += kThreads)
          p[i] = ir::init_value_of(e[3 * i], __int_as_float(e[3 * i + 1]),
                                   init_uniform(i, rules.run_seed, rules.layer, init_seed_s),
                                   e[3 * i + 2]);
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    cmd_header->count = 0;
    ring_header->head = head;
  }
}

}  // namespace

void morph_lifecycle_step(const MorphLayerBuffers& L, const MorphLifecycleArgs& a,
                          const Tensor& step) {
  KASMINA_CHECK(step.numel() == 1 && step.dtype() == DType::i64 && step.device() == L.device(),
                "morph_lifecycle_step: step must be i64[1] on the layer's device");
  L.pool.check_dtype(DType::f32);
  const int32_t* alarm = nullptr;
  if (a.loss_alarm.defined()) {
    KASMINA_CHECK(a.loss_alarm.numel() == 1 && a.loss_alarm.dtype() == DType::i32 &&
                      a.loss_alarm.device() == L.device(),
                  "morph_lifecycle_step: loss_alarm must be i32[1] on the layer's device");
    alarm = a.loss_alarm.data<int32_t>();
  }
  morph_lifecycle_kernel<<<1, kThreads, 0, stream(L.device())>>>(
      morph_detail::state_view(L), morph_detail::pool_view<float>(L), L.step_stats.data<float>(),
      L.grad_norm.data<float>(), step.data<int64_t>(), alarm, a.lifecycle, a.grafting, a.rules,
      a.stats_fresh, a.grads_fresh, morph_detail::event_header(L), morph_detail::event_ring(L),
      L.event_capacity, morph_detail::command_header(L), morph_detail::command_list(L),
      L.command_capacity,
      L.registered_init.defined() ? L.registered_init.data<int32_t>() : nullptr);
  KASMINA_LAUNCH_CHECK("morph_lifecycle_kernel");
}

}  // namespace kasmina::ops::cuda
