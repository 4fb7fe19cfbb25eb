// The plan of the fused MLP step (mlp_step.cu), made on the host when a launch's problem differs
// from the last one's (the launcher keeps the last plan): the phases in order, the GEMMs each
// GEMM phase runs, and how each GEMM's tiles are split along k.
//
// The phases: the gather (optional); each layer's forward, except the last layer's when the loss
// phase computes the logits itself; the loss; the backward, layer by layer from the top, each
// phase the input gradient through a layer beside that layer's weight gradient (the last layer's
// input gradient, when the loss phase computes it, leaves its weight gradient to the next phase);
// the update (optional). A weight gradient may run in any backward phase after the one that
// makes its layer's output gradient, so the plan also tries moving weight gradients into the
// last GEMM phase (at most three GEMMs a phase), which shortens the phase they leave when the
// last phase absorbs them without a longer round (at B256 of the reference MLP: the phase of the
// second layer's input gradient from 2 slabs to 1). It keeps the plan with the fewest estimated
// slab times on the critical path: per phase, the most any block's items cost under the
// kernel's assignment (item `it` to block `it % grid`), a tile's cost its slabs plus the split
// cost when split, and one slab time for each phase's barrier; a tie keeps the unmoved plan.
//
// Host code (and the types the kernel reads), compiled by the C++ compiler too: the CPU tests
// check the plans (tests/ops/cpu/test_mlp_step_plan.cpp).
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "core/hd.hpp"
#include "ops/mlp_step_ops.hpp"

namespace kasmina::kernels::mlp {
constexpr int kTile = 32;   // outputs per tile side (mlp_step_tile.cuh)
constexpr int kSlab = 128;  // k per shared-memory slab
}  // namespace kasmina::kernels::mlp

namespace kasmina::kernels::mlp_step {

enum GemmKind : int { kForward = 0, kInputGrad = 1, kWeightGrad = 2 };

// The sizes of GEMM `kind` of a layer, C[M, N] = Σ over K: the forward y [rows, out] over in;
// the input gradient [rows, in] over out; the weight gradient [out, in] over the rows.
struct GemmDims {
  int M, N, K;
};

KASMINA_HD GemmDims gemm_dims(int kind, int in, int out, int rows) {
  if (kind == kForward) return {rows, out, in};
  if (kind == kInputGrad) return {rows, in, out};
  return {out, in, rows};
}

// One GEMM of a phase: its kind and layer, tiles along m and n, k split into `splits` ranges of
// k_per (a multiple of the slab), items = tiles * splits, and where its split tiles' tickets and
// partial tiles start.
struct GemmDev {
  int kind, layer;
  int tiles_m, tiles_n, splits, k_per;
  int items;
  int ticket0, partial0;
};

// The forward and backward phases, the loss, the gather and the update.
constexpr int kMaxPhases = 2 * ops::kMlpStepMaxLayers + 3;

enum PhaseWork : int { kGemmPhase = 0, kLossPhase = 1, kGatherPhase = 2, kUpdatePhase = 3 };

struct PhaseDev {
  int work;   // PhaseWork
  int gemms;  // kGemmPhase: 1 to 3 GEMMs
  GemmDev gemm[3];
  int add_losses;  // the last block adds the rows' losses first (the first backward phase)
};

// What the plan is made from.
struct PlanInput {
  int layers = 0;
  int in[ops::kMlpStepMaxLayers] = {}, out[ops::kMlpStepMaxLayers] = {};
  int rows = 0;
  bool dx_in_loss = false;      // the loss phase computes the last layer's input gradient
  bool logits_in_loss = false;  // ... and its logits (no forward phase for the last layer)
  bool gather = false, update = false;
  bool operator==(const PlanInput&) const = default;
};

// The plan: the phases in order.
struct StepPlan {
  PhaseDev phase[kMaxPhases];
  int phases = 0;
};

struct PlanOptions {
  int grid = 1;
  int split_cost = 2;             // a split's cost in slabs (KASMINA_MLP_SPLIT_COST)
  bool late_weight_grads = true;  // try weight gradients in the last GEMM phase
  bool operator==(const PlanOptions&) const = default;
};

// What the launcher needs besides s.phase: scratch for split tiles.
struct PlanScratch {
  int tickets = 0, partials = 0;
};

inline int plan_ceil_div(int64_t a, int64_t b) {
  return static_cast<int>((a + b - 1) / b);
}

// Plans GEMM `kind` of layer l for a phase whose tiles (with the other GEMMs') number
// `phase_tiles`. Splits: the fewest slabs on the critical path, a split costing about as much as
// `split_cost` slabs (its partial tile written and fenced, the ticket, the partials read back:
// ~2.7 us against ~2.4 per further slab on the H200; a cost of 2 or 1 gave the same steps, 3 a
// slower one at B256: bench/RESULTS.md), with the phase's items within one round of the grid.
inline GemmDev plan_gemm(int kind, int l, const GemmDims& d, int phase_tiles, const PlanOptions& o,
                         int& tickets, int& partials) {
  GemmDev g{};
  g.kind = kind, g.layer = l;
  g.tiles_m = plan_ceil_div(d.M, mlp::kTile), g.tiles_n = plan_ceil_div(d.N, mlp::kTile);
  const int tiles = g.tiles_m * g.tiles_n, slabs = std::max(1, plan_ceil_div(d.K, mlp::kSlab));
  int want = 1;
  for (int sp = 2; sp <= std::min(8, slabs); ++sp) {
    if (phase_tiles * sp > o.grid) break;
    if (plan_ceil_div(slabs, sp) + o.split_cost <
        plan_ceil_div(slabs, want) + (want > 1 ? o.split_cost : 0))
      want = sp;
  }
  g.k_per = plan_ceil_div(slabs, want) * mlp::kSlab;
  g.splits = std::max(1, plan_ceil_div(d.K, g.k_per));
  g.items = tiles * g.splits;
  if (g.splits > 1) {
    g.ticket0 = tickets, g.partial0 = partials;
    tickets += tiles, partials += g.items;
  }
  return g;
}

struct PlanJob {
  int kind, layer;
};

// The estimated cost of GEMM phase ph in slab times: the most that one block's items cost under
// the kernel's assignment (item `it` to block `it % grid`), an item costing its slabs plus the
// split cost when its tile is split.
inline int phase_slabs(const PlanInput& s, const PhaseDev& ph, const PlanOptions& o) {
  std::vector<int> load(static_cast<size_t>(o.grid), 0);
  int it = 0;
  for (int q = 0; q < ph.gemms; ++q) {
    const GemmDev& g = ph.gemm[q];
    const int K = gemm_dims(g.kind, s.in[g.layer], s.out[g.layer], s.rows).K;
    for (int item = 0; item < g.items; ++item, ++it) {
      const int k_begin = (item % g.splits) * g.k_per;
      const int k = std::min(K, k_begin + g.k_per) - k_begin;
      load[static_cast<size_t>(it % o.grid)] +=
          std::max(1, plan_ceil_div(k, mlp::kSlab)) + (g.splits > 1 ? o.split_cost : 0);
    }
  }
  return *std::max_element(load.begin(), load.end());
}

// Fills `ph` with the GEMMs `jobs`; returns its estimated cost (phase_slabs).
inline int plan_gemm_phase(const PlanInput& s, const std::vector<PlanJob>& jobs,
                           const PlanOptions& o, PhaseDev& ph, PlanScratch& scratch) {
  ph.work = kGemmPhase;
  ph.gemms = static_cast<int>(jobs.size());
  int tiles = 0;
  GemmDims dims[3];
  for (size_t q = 0; q < jobs.size(); ++q) {
    const int l = jobs[q].layer;
    dims[q] = gemm_dims(jobs[q].kind, s.in[l], s.out[l], s.rows);
    tiles += plan_ceil_div(dims[q].M, mlp::kTile) * plan_ceil_div(dims[q].N, mlp::kTile);
  }
  int tickets = 0, partials = 0;
  for (size_t q = 0; q < jobs.size(); ++q)
    ph.gemm[q] = plan_gemm(jobs[q].kind, jobs[q].layer, dims[q], tiles, o, tickets, partials);
  scratch.tickets = std::max(scratch.tickets, tickets);
  scratch.partials = std::max(scratch.partials, partials);
  return phase_slabs(s, ph, o);
}

// The backward GEMM phases, before any weight gradient is moved: a list of jobs per phase.
inline std::vector<std::vector<PlanJob>> backward_jobs(const PlanInput& s) {
  std::vector<std::vector<PlanJob>> phases;
  std::vector<PlanJob> pending;
  for (int l = s.layers - 1; l >= 0; --l) {
    pending.push_back({kWeightGrad, l});
    if (l == s.layers - 1 && s.dx_in_loss) continue;
    if (l > 0) pending.push_back({kInputGrad, l});
    phases.push_back(pending);
    pending.clear();
  }
  return phases;
}

// The backward phases with the weight gradients in `moved` (bit q: movable job q) taken from
// their phases to the end of the last one.
inline std::vector<std::vector<PlanJob>> with_moved(const std::vector<std::vector<PlanJob>>& base,
                                                    const std::vector<PlanJob>& movable,
                                                    unsigned moved) {
  std::vector<std::vector<PlanJob>> out = base;
  for (size_t q = 0; q < movable.size(); ++q) {
    if (!(moved >> q & 1u)) continue;
    for (size_t p = 0; p + 1 < out.size(); ++p) {
      auto& jobs = out[p];
      for (size_t j = 0; j < jobs.size(); ++j) {
        if (jobs[j].kind == movable[q].kind && jobs[j].layer == movable[q].layer) {
          jobs.erase(jobs.begin() + static_cast<std::ptrdiff_t>(j));
          break;
        }
      }
    }
    out.back().push_back(movable[q]);
  }
  return out;
}

// Appends the GEMM phases `phases` to s (the first one adds the rows' losses); returns their
// estimated cost.
inline int append_gemm_phases(const PlanInput& in, StepPlan& s,
                              const std::vector<std::vector<PlanJob>>& phases,
                              bool first_adds_losses, const PlanOptions& o, PlanScratch& scratch) {
  int cost = 0;
  bool adds_losses = first_adds_losses;
  for (const std::vector<PlanJob>& jobs : phases) {
    if (jobs.empty()) continue;
    PhaseDev& ph = s.phase[s.phases++];
    ph = PhaseDev{};
    cost += plan_gemm_phase(in, jobs, o, ph, scratch) + 1;
    ph.add_losses = adds_losses ? 1 : 0;
    adds_losses = false;
  }
  return cost;
}

inline PhaseDev work_phase(int work) {
  PhaseDev ph{};
  ph.work = work;
  return ph;
}

// Plans every phase of the step into s.
inline PlanScratch plan_step(const PlanInput& in, const PlanOptions& o, StepPlan& s) {
  PlanScratch scratch;
  s.phases = 0;
  if (in.gather) s.phase[s.phases++] = work_phase(kGatherPhase);
  const int forwards = in.logits_in_loss ? in.layers - 1 : in.layers;
  for (int l = 0; l < forwards; ++l)
    append_gemm_phases(in, s, {{{kForward, l}}}, false, o, scratch);
  s.phase[s.phases++] = work_phase(kLossPhase);
  const std::vector<std::vector<PlanJob>> base = backward_jobs(in);
  std::vector<PlanJob> movable;
  for (size_t p = 0; p + 1 < base.size(); ++p) {
    for (const PlanJob& j : base[p])
      if (j.kind == kWeightGrad) movable.push_back(j);
  }
  const int slots = 3 - static_cast<int>(base.back().size());
  unsigned best = 0;
  if (o.late_weight_grads && !movable.empty() && movable.size() < 16 && slots > 0) {
    const int at = s.phases;
    PlanScratch trial;
    int best_cost = append_gemm_phases(in, s, base, true, o, trial);
    for (unsigned m = 1; m < (1u << movable.size()); ++m) {
      if (std::popcount(m) > slots) continue;
      s.phases = at;
      const int cost = append_gemm_phases(in, s, with_moved(base, movable, m), true, o, trial);
      if (cost < best_cost) best_cost = cost, best = m;
    }
    s.phases = at;
  }
  append_gemm_phases(in, s, with_moved(base, movable, best), true, o, scratch);
  if (in.update) s.phase[s.phases++] = work_phase(kUpdatePhase);
  return scratch;
}

}  // namespace kasmina::kernels::mlp_step
