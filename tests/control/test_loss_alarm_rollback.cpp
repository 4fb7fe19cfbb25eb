// Device-side emergency rollback: the loss guard's flag, connected to a KasminaLayer, rolls back
// the seeds in GRAFTING / STABILIZATION / FINE_TUNING at the next lifecycle step (pre-graft
// parameters restored, alpha 0, reason loss_alarm) and leaves the other seeds alone; the CUDA
// lifecycle step does exactly what the CPU twin does.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ops/ops.hpp"
#include "tests/morph/morph_test_util.hpp"

namespace kasmina::morph {
namespace {

MorphConfig alarm_config() {
  MorphConfig c = testing::small_config(80, 5, /*slots=*/5);
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::fine_tuning)] = 1000;
  return c;
}

// Gives every seed of `snapshotted` a pre-graft snapshot, and every slot's snapshot regions
// distinct random values.
void add_snapshots(KasminaLayer& layer, const std::vector<int32_t>& snapshotted) {
  HostSeedState h = layer.seed_state().download();
  for (int32_t s : snapshotted) h.view().has_snapshot[s] = 1;
  layer.restore_state(h, layer.buffers().slot_owner.to_vector<int32_t>());
  const ops::MorphLayerBuffers& L = layer.buffers();
  std::vector<float> pool = testing::pool_values<float>(layer);
  PoolView<float> pv;
  pv.base = pool.data();
  pv.slots = L.pool_slots;
  pv.region = L.pool_region;
  Rng rng(99);
  for (int32_t slot = 0; slot < L.pool_slots; ++slot) {
    for (PoolRegion r : {PoolRegion::snapshot_params, PoolRegion::snapshot_moment1,
                         PoolRegion::snapshot_moment2}) {
      float* p = pv.at(slot, r);
      for (int32_t i = 0; i < L.pool_region; ++i) p[i] = static_cast<float>(rng.normal());
    }
  }
  Tensor pool_t = L.pool;
  pool_t.copy_from(Tensor::from_vector(pool, {static_cast<int64_t>(pool.size())}));
}

// Seeds: 0 GRAFTING, 1 TRAINING, 2 STABILIZATION, 3 EVALUATING, 4 FINE_TUNING (slot = seed);
// every seed past TRAINING has a pre-graft snapshot with distinct random values.
void arrange_seeds(KasminaLayer& layer) {
  testing::arrange(layer,
                   {{0, Stage::grafting, BlueprintKind::diag_scale, 0.3f, 2},
                    {1, Stage::training, BlueprintKind::low_rank, 0.0f, 2},
                    {2, Stage::stabilization, BlueprintKind::residual_mlp, 1.0f, 2},
                    {3, Stage::evaluating, BlueprintKind::diag_scale, 1.0f, 2},
                    {4, Stage::fine_tuning, BlueprintKind::low_rank, 1.0f, 2}},
                   7, 0.1);
  add_snapshots(layer, {0, 2, 3, 4});
}

std::vector<float> region(const KasminaLayer& layer, int32_t slot, PoolRegion r) {
  const ops::MorphLayerBuffers& L = layer.buffers();
  std::vector<float> pool = testing::pool_values<float>(layer);
  PoolView<float> pv;
  pv.base = pool.data();
  pv.slots = L.pool_slots;
  pv.region = L.pool_region;
  const float* p = pv.at(slot, r);
  return std::vector<float>(p, p + L.pool_region);
}

TEST(LossAlarmRollback, FlagRollsBackBlendedTrainingSeedsOnly) {
  KasminaLayer layer(alarm_config());
  layer.prepare(2, Device::cpu());
  arrange_seeds(layer);
  std::vector<std::vector<float>> params_before;
  for (int32_t slot = 0; slot < 5; ++slot)
    params_before.push_back(region(layer, slot, PoolRegion::params));
  layer.set_loss_alarm(Tensor::from_vector<int32_t>({2}, {1}));
  testing::StepClock clock(Device::cpu());
  clock.set(17);
  layer.end_step(clock.ctx);
  const std::vector<MorphEvent> ev = layer.drain_events();
  ASSERT_EQ(ev.size(), 3u);
  const int32_t rolled[] = {0, 2, 4};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ev[i].seed, rolled[i]);
    EXPECT_EQ(ev[i].to, static_cast<int32_t>(Stage::rolled_back));
    EXPECT_EQ(ev[i].reason, static_cast<int32_t>(Reason::loss_alarm));
    EXPECT_EQ(ev[i].value, 2.0f);
    EXPECT_EQ(ev[i].step, 17);
  }
  HostSeedState h = layer.seed_state().download();
  for (int32_t s : rolled) {
    EXPECT_EQ(h.view().alpha[s], 0.0f);
    EXPECT_EQ(region(layer, s, PoolRegion::params), region(layer, s, PoolRegion::snapshot_params));
    EXPECT_EQ(region(layer, s, PoolRegion::moment1),
              region(layer, s, PoolRegion::snapshot_moment1));
    EXPECT_NE(region(layer, s, PoolRegion::params), params_before[s]);
  }
  EXPECT_EQ(h.view().stage[1], static_cast<int32_t>(Stage::training));
  EXPECT_EQ(h.view().stage[3], static_cast<int32_t>(Stage::evaluating));
  EXPECT_EQ(region(layer, 1, PoolRegion::params), params_before[1]);
  EXPECT_EQ(region(layer, 3, PoolRegion::params), params_before[3]);
  // Next boundary (flag cleared by the guard's next accepted step): the slots are released.
  layer.set_loss_alarm(Tensor::from_vector<int32_t>({0}, {1}));
  clock.set(18);
  layer.end_step(clock.ctx);
  const std::vector<MorphEvent> released = layer.drain_events();
  ASSERT_EQ(released.size(), 3u);
  for (const MorphEvent& e : released) EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::released));
}

TEST(LossAlarmRollback, ZeroFlagOrNoGuardChangesNothing) {
  for (bool connect : {true, false}) {
    KasminaLayer layer(alarm_config());
    layer.prepare(2, Device::cpu());
    arrange_seeds(layer);
    if (connect) layer.set_loss_alarm(Tensor::from_vector<int32_t>({0}, {1}));
    testing::StepClock clock(Device::cpu());
    layer.end_step(clock.ctx);
    EXPECT_TRUE(layer.drain_events().empty());
    EXPECT_EQ(layer.seed_state().download().view().stage[0], static_cast<int32_t>(Stage::grafting));
  }
}

// Sets the guard flag `flag` on both layers (the second on the GPU) and runs the boundary of
// step 40 on each.
void alarm_boundary(KasminaLayer& cpu, KasminaLayer& dev, int32_t flag) {
  const Device gpu = dev.buffers().device();
  cpu.set_loss_alarm(Tensor::from_vector<int32_t>({flag}, {1}));
  dev.set_loss_alarm(Tensor::from_vector<int32_t>({flag}, {1}, gpu));
  testing::StepClock ccpu(Device::cpu()), cgpu(gpu);
  ccpu.set(40);
  cgpu.set(40);
  cpu.end_step(ccpu.ctx);
  dev.end_step(cgpu.ctx);
  ops::synchronize(gpu);  // before the clocks' step counters are freed
}

TEST(LossAlarmRollbackCuda, MatchesTheCpuTwin) {
  ops::init();
  if (!ops::cuda_built()) GTEST_SKIP() << "no CUDA device: this build has no CUDA support";
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: none visible to the CUDA runtime";
  const Device gpu = Device::cuda(0);
  for (int32_t flag : {0, 1, 2}) {
    KasminaLayer cpu(alarm_config()), dev(alarm_config());
    cpu.prepare(2, Device::cpu());
    dev.prepare(2, gpu);
    arrange_seeds(cpu);
    arrange_seeds(dev);
    alarm_boundary(cpu, dev, flag);
    const std::vector<MorphEvent> ec = cpu.drain_events(), eg = dev.drain_events();
    ASSERT_EQ(ec.size(), eg.size()) << "flag " << flag;
    for (size_t i = 0; i < ec.size(); ++i) {
      EXPECT_EQ(std::memcmp(&ec[i], &eg[i], sizeof(MorphEvent)), 0) << "event " << i;
    }
    EXPECT_TRUE(testing::bitwise_equal(cpu.buffers().pool, dev.buffers().pool)) << "flag " << flag;
    HostSeedState hc = cpu.seed_state().download(), hg = dev.seed_state().download();
    for (int32_t s = 0; s < 5; ++s) {
      EXPECT_EQ(hc.view().stage[s], hg.view().stage[s]);
      EXPECT_EQ(hc.view().alpha[s], hg.view().alpha[s]);
    }
  }
}

// Many seeds (the CUDA kernel's queue of region work across tiles of 512 seeds, with the state in
// shared memory at 1024 seeds and in global memory at 4096): every third seed active, cycling
// GRAFTING / TRAINING / FINE_TUNING, the blended ones with snapshots; the alarm rolls them back
// exactly as the CPU twin does (events, pool and state bit for bit).
TEST(LossAlarmRollbackCuda, ManySeedsMatchTheCpuTwin) {
  ops::init();
  if (!ops::cuda_built()) GTEST_SKIP() << "no CUDA device: this build has no CUDA support";
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: none visible to the CUDA runtime";
  const Device gpu = Device::cuda(0);
  for (int32_t seeds : {1024, 4096}) {
    std::vector<testing::SeedSetup> setups;
    std::vector<int32_t> snapshotted;
    const Stage cycle[] = {Stage::grafting, Stage::training, Stage::fine_tuning};
    for (int32_t s = 0, k = 0; s < seeds; s += 3, ++k) {
      const Stage st = cycle[k % 3];
      setups.push_back(
          {s, st, BlueprintKind::residual_mlp, st == Stage::training ? 0.0f : 0.5f, 2});
      if (st != Stage::training) snapshotted.push_back(s);
    }
    MorphConfig cfg = testing::small_config(static_cast<int64_t>(seeds) * 4, seeds,
                                            static_cast<int32_t>(setups.size()));
    cfg.lifecycle.min_steps[static_cast<int32_t>(Stage::fine_tuning)] = 1000;
    KasminaLayer cpu(cfg), dev(cfg);
    cpu.prepare(2, Device::cpu());
    dev.prepare(2, gpu);
    for (KasminaLayer* l : {&cpu, &dev}) {
      testing::arrange(*l, setups, 7, 0.1);
      add_snapshots(*l, snapshotted);
    }
    alarm_boundary(cpu, dev, 1);
    const std::vector<MorphEvent> ec = cpu.drain_events(), eg = dev.drain_events();
    ASSERT_EQ(ec.size(), snapshotted.size()) << seeds << " seeds";
    ASSERT_EQ(ec.size(), eg.size()) << seeds << " seeds";
    for (size_t i = 0; i < ec.size(); ++i)
      EXPECT_EQ(std::memcmp(&ec[i], &eg[i], sizeof(MorphEvent)), 0) << "event " << i;
    EXPECT_TRUE(testing::bitwise_equal(cpu.buffers().pool, dev.buffers().pool)) << seeds;
    EXPECT_TRUE(testing::bitwise_equal(cpu.seed_state().storage(), dev.seed_state().storage()))
        << seeds;
  }
}

}  // namespace
}  // namespace kasmina::morph
