// The fused MLP step's plan (kernels/mlp_step_plan.cuh): the phases of the reference MLP as
// measured (bench/RESULTS.md), and, over random chains of layers, batch sizes and grids, that
// every GEMM runs exactly once, after what it reads, in at most three GEMMs a phase, with its k
// range covered by its splits, and that moving weight gradients never makes the estimate worse.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/mlp_step_plan.cuh"

namespace kasmina::kernels::mlp_step {
namespace {

PlanInput chain(const std::vector<int>& widths, int rows, bool in_loss) {
  PlanInput in;
  in.layers = static_cast<int>(widths.size()) - 1;
  for (int l = 0; l < in.layers; ++l) in.in[l] = widths[l], in.out[l] = widths[l + 1];
  in.rows = rows;
  in.dx_in_loss = in_loss && in.layers >= 2;
  in.logits_in_loss = in.dx_in_loss;
  in.gather = in.update = true;
  return in;
}

// "fwd0 64x2" etc. per phase: GEMM kind, layer, tiles x splits.
std::vector<std::string> describe(const StepPlan& p) {
  const char* kind[] = {"fwd", "dx", "dw"};
  const char* work[] = {"", "loss", "gather", "update"};
  std::vector<std::string> out;
  for (int i = 0; i < p.phases; ++i) {
    const PhaseDev& ph = p.phase[i];
    std::string s = work[ph.work];
    for (int q = 0; q < ph.gemms; ++q) {
      const GemmDev& g = ph.gemm[q];
      s += std::string(q ? " " : "") + kind[g.kind] + std::to_string(g.layer) + " " +
           std::to_string(g.tiles_m * g.tiles_n) + "x" + std::to_string(g.splits);
    }
    out.push_back(s);
  }
  return out;
}

int total_cost(const PlanInput& in, const PlanOptions& o, const StepPlan& p) {
  int cost = 0;
  for (int i = 0; i < p.phases; ++i)
    if (p.phase[i].work == kGemmPhase) cost += phase_slabs(in, p.phase[i], o) + 1;
  return cost;
}

// The reference MLP's plan on 132 SMs (an H100 or H200).
std::vector<std::string> reference_plan(int rows, bool in_loss, bool late, StepPlan* out = nullptr,
                                        int* cost = nullptr) {
  const PlanInput in = chain({784, 256, 128, 10}, rows, in_loss);
  PlanOptions o;
  o.grid = 132;
  o.late_weight_grads = late;
  StepPlan p;
  plan_step(in, o, p);
  if (out) *out = p;
  if (cost) *cost = total_cost(in, o, p);
  return describe(p);
}

TEST(MlpStepPlan, ReferenceMlpAtB256MovesTheUpperWeightGradientsIntoTheLastPhase) {
  StepPlan late;
  int late_cost = 0, early_cost = 0;
  EXPECT_EQ(reference_plan(256, true, true, &late, &late_cost),
            (std::vector<std::string>{"gather", "fwd0 64x2", "fwd1 32x1", "loss", "dx1 64x1",
                                      "dw0 200x1 dw2 4x1 dw1 32x1", "update"}));
  EXPECT_EQ(reference_plan(256, true, false, nullptr, &early_cost),
            (std::vector<std::string>{"gather", "fwd0 64x2", "fwd1 32x1", "loss",
                                      "dw2 4x1 dw1 32x1 dx1 64x1", "dw0 200x1", "update"}));
  // dx1 alone: 1 slab instead of 2 (dw1's and dw2's 256 rows); the last phase still 2 rounds of
  // 2 slabs.
  EXPECT_EQ(early_cost - late_cost, 1);
  EXPECT_EQ(late.phase[4].add_losses, 1);
  EXPECT_EQ(late.phase[5].add_losses, 0);
}

TEST(MlpStepPlan, ReferenceMlpAtB128KeepsItsPhasesOnATie) {
  EXPECT_EQ(reference_plan(128, true, true),
            (std::vector<std::string>{"gather", "fwd0 32x4", "fwd1 16x1", "loss",
                                      "dw2 4x1 dw1 32x1 dx1 32x1", "dw0 200x1", "update"}));
}

TEST(MlpStepPlan, WithoutTheLossPhasesShortcutsTheLogitsAndTheirInputGradientAreGemms) {
  EXPECT_EQ(
      reference_plan(128, false, true),
      (std::vector<std::string>{"gather", "fwd0 32x4", "fwd1 16x1", "fwd2 4x1", "loss",
                                "dw2 4x1 dx2 16x1", "dw1 32x1 dx1 32x1", "dw0 200x1", "update"}));
}

// Over random problems: each GEMM once, after its inputs, k covered; never a worse estimate.
TEST(MlpStepPlan, RandomChainsRunEveryGemmOnceAfterItsInputs) {
  std::mt19937 rng(20261207);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int moved_plans = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<int> widths(static_cast<size_t>(pick(2, ops::kMlpStepMaxLayers + 1)));
    for (int& w : widths) w = pick(0, 3) == 0 ? pick(1, 40) : pick(1, 1100);
    const int rows = pick(0, 1) ? pick(1, 300) : pick(1, 4096);
    const PlanInput in = chain(widths, rows, pick(0, 3) != 0);
    PlanOptions o;
    o.grid = std::vector<int>{1, 8, 132, 264}[static_cast<size_t>(pick(0, 3))];
    o.split_cost = pick(1, 3);
    StepPlan p, unmoved;
    const PlanScratch need = plan_step(in, o, p);
    PlanOptions off = o;
    off.late_weight_grads = false;
    plan_step(in, off, unmoved);
    const std::string where = "trial " + std::to_string(trial) + " rows " + std::to_string(rows);
    ASSERT_LE(p.phases, kMaxPhases) << where;
    EXPECT_LE(total_cost(in, o, p), total_cost(in, o, unmoved)) << where;
    if (describe(p) != describe(unmoved)) ++moved_plans;
    // done[{kind, layer}] = the phase that ran it; the loss phase's index for what it computes.
    std::map<std::pair<int, int>, int> done;
    int loss_at = -1, losses_added = 0, max_tickets = 0, max_partials = 0;
    for (int i = 0; i < p.phases; ++i) {
      const PhaseDev& ph = p.phase[i];
      if (ph.work == kLossPhase) loss_at = i;
      if (ph.work != kGemmPhase) continue;
      ASSERT_GE(ph.gemms, 1) << where;
      ASSERT_LE(ph.gemms, 3) << where;
      losses_added += ph.add_losses;
      if (ph.add_losses) {
        EXPECT_GT(loss_at, -1) << where;
      }
      int tickets = 0, partials = 0;
      for (int q = 0; q < ph.gemms; ++q) {
        const GemmDev& g = ph.gemm[q];
        const GemmDims d = gemm_dims(g.kind, in.in[g.layer], in.out[g.layer], in.rows);
        EXPECT_EQ(g.tiles_m, (d.M + 31) / 32) << where;
        EXPECT_EQ(g.tiles_n, (d.N + 31) / 32) << where;
        EXPECT_EQ(g.items, g.tiles_m * g.tiles_n * g.splits) << where;
        EXPECT_EQ(g.k_per % mlp::kSlab, 0) << where;
        EXPECT_GE(static_cast<int64_t>(g.splits) * g.k_per, d.K) << where;
        EXPECT_LT(static_cast<int64_t>(g.splits - 1) * g.k_per, std::max(d.K, 1)) << where;
        if (g.splits > 1) {
          EXPECT_EQ(g.ticket0, tickets) << where;
          EXPECT_EQ(g.partial0, partials) << where;
          tickets += g.tiles_m * g.tiles_n, partials += g.items;
        }
        EXPECT_TRUE(done.emplace(std::make_pair(g.kind, g.layer), i).second)
            << where << ": a GEMM twice";
        const int n = in.layers;
        // What it reads must be done in an earlier phase.
        if (g.kind == kForward && g.layer > 0) {
          EXPECT_LT(done.at({kForward, g.layer - 1}), i) << where;
        }
        if (g.kind != kForward) {  // the output gradient of layer l: the loss, or dx_{l+1}
          const bool from_loss = g.layer == n - 1;
          if (from_loss) {
            EXPECT_LT(loss_at, i) << where;
          } else if (in.dx_in_loss && g.layer + 1 == n - 1) {
            EXPECT_LT(loss_at, i) << where;
          } else {
            ASSERT_TRUE(done.count({kInputGrad, g.layer + 1})) << where;
            EXPECT_LT(done.at({kInputGrad, g.layer + 1}), i) << where;
          }
        }
      }
      max_tickets = std::max(max_tickets, tickets);
      max_partials = std::max(max_partials, partials);
    }
    EXPECT_EQ(need.tickets, max_tickets) << where;
    EXPECT_EQ(need.partials, max_partials) << where;
    EXPECT_EQ(losses_added, 1) << where;
    const int n = in.layers;
    for (int l = 0; l < n; ++l) {
      const bool fwd = !(in.logits_in_loss && l == n - 1);
      EXPECT_EQ(done.count({kForward, l}), fwd ? 1u : 0u) << where << " layer " << l;
      EXPECT_EQ(done.count({kWeightGrad, l}), 1u) << where << " layer " << l;
      const bool dx = l > 0 && !(in.dx_in_loss && l == n - 1);
      EXPECT_EQ(done.count({kInputGrad, l}), dx ? 1u : 0u) << where << " layer " << l;
    }
    if (in.logits_in_loss) {
      EXPECT_LT(done.at({kForward, n - 2}), loss_at) << where;
    }
    EXPECT_EQ(p.phase[0].work, kGatherPhase);
    EXPECT_EQ(p.phase[p.phases - 1].work, kUpdatePhase);
  }
  EXPECT_GT(moved_plans, 10) << "the random problems hardly ever move a weight gradient";
}

}  // namespace
}  // namespace kasmina::kernels::mlp_step
