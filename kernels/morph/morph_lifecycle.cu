// The lifecycle step of a layer in ONE block (the per-seed work is small; one block keeps the
// event order deterministic and identical to the CPU twin): pass A over seeds in tiles of the
// block size with an exclusive scan placing each tile's events in seed order; pass B grants
// training slots in seed order (scan of candidates); then thread 0 applies the queued host
// commands in order while the whole block initialises each accepted germination's slot.
// Pass A's snapshots and rollbacks are applied in two parts: each seed's thread updates the seed
// state and queues the region work (compacted in seed order), then the whole block shares the
// copies of the queued parameter regions (16-byte vectors, several in flight per thread) — once
// after pass A when the queue holds every seed, else after each tile.
// Latency: the per-seed rules are a chain of dependent reads and writes of the state (one memory
// round trip each when they go to global memory). When it fits, the kernel first copies the
// whole state, the step statistics and the gradient norms into shared memory (asynchronous
// copies, one round trip), works there, and writes the state back at the end.
// Bytes: the state (76*S read + written), step stats and grad norms (12*S), events written, and
// for each germination / snapshot / rollback the slot's parameter regions.
#include <cuda_pipeline.h>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "ir/init.hpp"
#include "kernels/morph/morph_kernel_common.cuh"
#include "morph/lifecycle_commands.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

using namespace kasmina::morph;

constexpr int kThreads = 512;
// Shared memory beyond the dynamic part (scan and reduce storage, a few scalars), with margin.
constexpr size_t kStaticSmemMargin = 8 * 1024;
constexpr int kInFlight = 4;  // region vectors each thread loads before it stores

__device__ __forceinline__ bool aligned16_device(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// The region work of `entries` queued transitions (snapshots, restores), shared by the block:
// vector idx of the flattened list is vector idx % n of entry idx / n (n = region / W). Each
// thread issues the loads of kInFlight vectors before their stores. The moves are those of
// region_move and store_region_values (morph/lifecycle.hpp), W floats at a time.
template <class V>
__device__ void share_region_work(const PoolView<float>& pool, const int32_t* slots,
                                  const RegionWork* works, int32_t entries) {
  constexpr int W = sizeof(V) / sizeof(float);
  const int32_t n = pool.region / W;
  const int32_t total = entries * n;
  auto at = [&](int32_t slot, PoolRegion r) { return reinterpret_cast<V*>(pool.at(slot, r)); };
  for (int32_t base = threadIdx.x; base < total; base += kThreads * kInFlight) {
    V v[kInFlight][3];
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const int32_t idx = base + u * kThreads;
      if (idx < total) {
        const RegionMove m = region_move(works[idx / n]);
#pragma unroll
        for (int r = 0; r < 3; ++r) v[u][r] = at(slots[idx / n], m.from[r])[idx % n];
      }
    }
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const int32_t idx = base + u * kThreads;
      if (idx < total) {
        const RegionMove m = region_move(works[idx / n]);
        const int32_t slot = slots[idx / n], i = idx % n;
#pragma unroll
        for (int r = 0; r < 3; ++r) at(slot, m.to[r])[i] = v[u][r];
        if (m.zero_moments) {
          at(slot, PoolRegion::moment1)[i] = V{};
          at(slot, PoolRegion::moment2)[i] = V{};
        }
      }
    }
  }
}

__device__ __forceinline__ void share_region_work(const PoolView<float>& pool, bool vec,
                                                  const int32_t* slots, const RegionWork* works,
                                                  int32_t entries) {
  if (vec)
    share_region_work<float4>(pool, slots, works, entries);
  else
    share_region_work<float>(pool, slots, works, entries);
}

// Queues n 4-byte words from global to shared memory as asynchronous copies (16 bytes each when
// both ends allow it); the caller commits and waits.
__device__ void stage_words_async(void* dst, const void* src, int32_t n) {
  if (n % 4 == 0 && aligned16_device(dst) && aligned16_device(src)) {
    for (int32_t i = threadIdx.x; i < n / 4; i += kThreads)
      __pipeline_memcpy_async(static_cast<int4*>(dst) + i, static_cast<const int4*>(src) + i, 16);
  } else {
    for (int32_t i = threadIdx.x; i < n; i += kThreads)
      __pipeline_memcpy_async(static_cast<int32_t*>(dst) + i, static_cast<const int32_t*>(src) + i,
                              4);
  }
}

__device__ void write_words(int32_t* dst, const int32_t* src, int32_t n) {
  if (n % 4 == 0 && aligned16_device(dst) && aligned16_device(src)) {
    for (int32_t i = threadIdx.x; i < n / 4; i += kThreads)
      reinterpret_cast<int4*>(dst)[i] = reinterpret_cast<const int4*>(src)[i];
  } else {
    for (int32_t i = threadIdx.x; i < n; i += kThreads) dst[i] = src[i];
  }
}

// The kernel's dynamic shared memory: the region-work queue (work_cap slots, then work_cap
// kinds), then, when staged, the state words, the step statistics and the gradient norms.
struct LifecycleSmem {
  int32_t work_cap = kThreads;
  bool staged = false;
  size_t bytes(int32_t S) const {
    size_t b = sizeof(int32_t) * 2 * static_cast<size_t>(work_cap);
    if (staged)
      b += sizeof(int32_t) * static_cast<size_t>(kSeedFieldCount + kMorphStepStats + 1) * S;
    return b;
  }
};

__global__ void __launch_bounds__(kThreads)
    morph_lifecycle_kernel(SeedStateView gst, PoolView<float> pool, bool vec_regions,
                           const float* __restrict__ g_step_stats,
                           const float* __restrict__ g_gnorm, const int64_t* __restrict__ step,
                           const int32_t* __restrict__ loss_alarm, LifecycleParams lp,
                           GraftingParams gp, LayerRules rules, bool stats_fresh, bool grads_fresh,
                           EventRingHeader* ring_header, MorphEvent* ring, int32_t ring_cap,
                           CommandBufferHeader* cmd_header, const MorphCommand* cmds,
                           int32_t cmd_cap, const int32_t* init_table, LifecycleSmem layout) {
  using Scan = cub::BlockScan<int, kThreads>;
  using Reduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  __shared__ int64_t head;
  __shared__ int32_t training;
  __shared__ int32_t init_slot_s, init_kind_s, init_seed_s;
  extern __shared__ __align__(16) int32_t lifecycle_smem[];
  const int32_t S = gst.seeds;
  int32_t* work_slot = lifecycle_smem;
  RegionWork* work_kind = reinterpret_cast<RegionWork*>(lifecycle_smem + layout.work_cap);
  SeedStateView st = gst;
  const float* step_stats = g_step_stats;
  const float* gnorm = g_gnorm;
  if (layout.staged) {
    int32_t* words = lifecycle_smem + 2 * layout.work_cap;
    float* stats = reinterpret_cast<float*>(words + kSeedFieldCount * S);
    float* norms = stats + kMorphStepStats * S;
    stage_words_async(words, gst.stage, kSeedFieldCount * S);
    stage_words_async(stats, g_step_stats, kMorphStepStats * S);
    stage_words_async(norms, g_gnorm, S);
    __pipeline_commit();
    st = make_seed_state_view(words, S);
    step_stats = stats;
    gnorm = norms;
  }
  const int64_t now = *step;
  const int32_t alarm = loss_alarm != nullptr ? *loss_alarm : 0;
  if (threadIdx.x == 0) head = ring_header->head;
  if (layout.staged) __pipeline_wait_prior(0);
  __syncthreads();

  // Pass A: time and gates.
  int32_t queued = 0;  // region work entries queued (uniform across the block)
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
    // The tile's region work, queued in seed order.
    const int has_work = work != RegionWork::none ? 1 : 0;
    int wpos = 0, works = 0;
    __syncthreads();  // scan_tmp is reused
    Scan(scan_tmp).ExclusiveSum(has_work, wpos, works);
    if (has_work) {
      work_slot[queued + wpos] = st.slot[s];
      work_kind[queued + wpos] = work;
    }
    queued += works;
    __syncthreads();
    if (threadIdx.x == 0) head += total;
    // Copy when the next tile's work might not fit (region work touches the seed's own slot only,
    // so copies may wait for later tiles' state updates).
    if (queued > layout.work_cap - kThreads) {
      share_region_work(pool, vec_regions, work_slot, work_kind, queued);
      queued = 0;
    }
    __syncthreads();
  }
  if (queued > 0) {
    share_region_work(pool, vec_regions, work_slot, work_kind, queued);
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
  if (layout.staged) {
    __syncthreads();
    write_words(gst.stage, st.stage, kSeedFieldCount * S);
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
  // Stage the state in shared memory when it fits the block's opt-in limit (a margin left for
  // the static shared memory); the work queue then holds every seed.
  LifecycleSmem layout;
  layout.staged = true;
  layout.work_cap = (L.seeds + kThreads - 1) / kThreads * kThreads;
  if (layout.bytes(L.seeds) + kStaticSmemMargin > smem_optin(L.device())) layout = {};
  const size_t smem = layout.bytes(L.seeds);
  const PoolView<float> pool = morph_detail::pool_view<float>(L);
  const bool vec_regions = pool.region % 4 == 0 && morph_kernels::aligned16(pool.base);
  morph_kernels::opt_in_smem(morph_lifecycle_kernel, smem);
  morph_lifecycle_kernel<<<1, kThreads, smem, stream(L.device())>>>(
      morph_detail::state_view(L), pool, vec_regions, L.step_stats.data<float>(),
      L.grad_norm.data<float>(), step.data<int64_t>(), alarm, a.lifecycle, a.grafting, a.rules,
      a.stats_fresh, a.grads_fresh, morph_detail::event_header(L), morph_detail::event_ring(L),
      L.event_capacity, morph_detail::command_header(L), morph_detail::command_list(L),
      L.command_capacity, L.registered_init.defined() ? L.registered_init.data<int32_t>() : nullptr,
      layout);
  KASMINA_LAUNCH_CHECK("morph_lifecycle_kernel");
}

}  // namespace kasmina::ops::cuda
