// Each stateful component saves and restores its own checkpoint section (core/stateful.hpp):
// save -> load into a fresh component -> save gives the same entries bit for bit, and a
// missing or mis-shaped entry is the UserError a resume prints.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "core/error.hpp"
#include "core/stateful.hpp"
#include "data/dataset.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"
#include "tests/common/source_root.hpp"
#include "tests/common/state_compare.hpp"
#include "tests/common/user_error.hpp"
#include "tests/morph/morph_test_util.hpp"
#include "train/data_order.hpp"
#include "train/device_data.hpp"
#include "train/loss_guard.hpp"

using namespace kasmina;
using kasmina::testing::source_root;

namespace {

Config seeds_config() {
  Overrides ov;
  ov.sets = {"telemetry.enabled=false"};
  return load_config(source_root() + "/configs/spirals_seeds.yaml", ov);
}

template <class Component>
RunState saved(const Component& c) {
  RunState st;
  StateWriter w(st);
  c.save_state(w);
  return st;
}

void replace(RunState& st, const std::string& name, const Tensor& t) {
  for (auto& [n, x] : st.tensors)
    if (n == name) x = t;
}
void erase(RunState& st, const std::string& name) {
  std::erase_if(st.tensors, [&](const auto& e) { return e.first == name; });
}

// A model whose first morphogenetic layer has seeds in the middle of their lifecycle, a queued
// command and advanced host counters.
std::unique_ptr<Model> busy_model(const Config& cfg, uint64_t seed) {
  auto m = std::make_unique<Model>(cfg.model, 2, seed, Device::cpu());
  m->prepare(16);
  morph::KasminaLayer& k = *m->morph_layers().at(0);
  using morph::Stage;
  morph::testing::arrange(k,
                          {{1, Stage::training, morph::BlueprintKind::residual_mlp, 0.0f, 5},
                           {4, Stage::grafting, morph::BlueprintKind::low_rank, 0.25f, 3}},
                          seed, 0.1);
  k.germinate(6, morph::BlueprintKind::diag_scale);
  k.restore_host_counters({30, 12, 1, 2});
  return m;
}

TEST(StateSections, ModelRoundTripRestoresParametersAndSeedsExactly) {
  const Config cfg = seeds_config();
  auto a = busy_model(cfg, 1);
  const RunState st = saved(*a);
  ASSERT_NE(st.find("layers.0.weight"), nullptr);
  ASSERT_NE(st.find("seeds/kasmina0/stage"), nullptr);
  ASSERT_NE(st.find("seeds/kasmina0/queued_commands"), nullptr);
  EXPECT_EQ(st.get_int("seeds/kasmina0/queued_commands"), 1);
  EXPECT_EQ(st.get_int("seeds/kasmina0/boundaries"), 30);
  ASSERT_NE(st.find("seeds/kasmina1/pool"), nullptr);

  auto b = std::make_unique<Model>(cfg.model, 2, 99, Device::cpu());  // other parameters
  b->prepare(16);
  b->load_state(StateReader(st));
  kasmina::testing::expect_same_section(st, saved(*b));
  EXPECT_EQ(b->morph_layers()[0]->queued_commands(), 1u);
  EXPECT_TRUE(b->morph_layers()[0]->may_have_active_seeds());
}

TEST(StateSections, KasminaLayerWithoutActiveHintRecomputesIt) {
  // Checkpoints written before the hint was carried have no active_hint: resume recomputes it.
  const Config cfg = seeds_config();
  RunState st = saved(*busy_model(cfg, 1));
  st.ints.erase("seeds/kasmina0/active_hint");
  auto b = std::make_unique<Model>(cfg.model, 2, 3, Device::cpu());
  b->prepare(16);
  b->load_state(StateReader(st));
  EXPECT_TRUE(b->morph_layers()[0]->may_have_active_seeds());
  EXPECT_EQ(b->morph_layers()[0]->host_counters().boundaries, 30);
}

TEST(StateSections, ModelEntriesOfAnotherModelAreRefused) {
  const Config cfg = seeds_config();
  const RunState good = saved(*busy_model(cfg, 1));
  auto b = std::make_unique<Model>(cfg.model, 2, 3, Device::cpu());
  b->prepare(16);
  RunState st = good;
  replace(st, "layers.0.weight", Tensor::zeros({16, 2}));
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b->load_state(StateReader(st)); }),
            "checkpoint: tensor 'layers.0.weight' has shape [16x2] but this run's model has "
            "[32x2] (a different model configuration)");
  st = good;
  erase(st, "layers.3.bias");
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b->load_state(StateReader(st)); }),
            "checkpoint: no tensor 'layers.3.bias' (was it written by another model?)");
  st = good;
  replace(st, "seeds/kasmina0/alpha", Tensor::zeros({3}));
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b->load_state(StateReader(st)); }),
            "checkpoint: 'seeds/kasmina0/alpha' holds 3 seeds but this run's layer has 8");
  st = good;
  replace(st, "seeds/kasmina1/slot_owner", Tensor::zeros({3}, DType::i32));
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b->load_state(StateReader(st)); }),
            "checkpoint: 'seeds/kasmina1/slot_owner' does not fit this run's pool_slots");
  st = good;
  replace(st, "seeds/kasmina0/queued_commands", Tensor::zeros({2, 4}, DType::i32));
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b->load_state(StateReader(st)); }),
            "checkpoint: 'seeds/kasmina0/queued_commands' does not hold 1 commands (an int32 "
            "array [1, 4])");
  st = good;
  st.ints.erase("seeds/kasmina1/ring_tail");
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b->load_state(StateReader(st)); }),
            "checkpoint: no integer 'seeds/kasmina1/ring_tail'");
}

TEST(StateSections, OptimizerRoundTripRestoresMomentsExactly) {
  const Config cfg = seeds_config();
  Model m(cfg.model, 2, 1, Device::cpu());
  m.prepare(16);
  const LrSchedule sched = make_schedule(cfg.optimizer, cfg.lr_schedule, 100);
  Optimizer a(cfg.optimizer, sched, m.parameters(), Device::cpu());
  uint64_t s = 11;
  for (Parameter* p : m.parameters())
    p->grad.copy_from(morph::testing::random_tensor<float>(p->grad.shape(), s++));
  const Tensor step = Tensor::zeros({1}, DType::i64);
  a.step(step);
  const RunState st = saved(a);
  ASSERT_NE(st.find("optimizer/m/layers.0.weight"), nullptr);
  ASSERT_NE(st.find("optimizer/v/layers.0.weight"), nullptr);

  Model m2(cfg.model, 2, 1, Device::cpu());
  m2.prepare(16);
  Optimizer b(cfg.optimizer, sched, m2.parameters(), Device::cpu());
  b.load_state(StateReader(st));
  kasmina::testing::expect_same_section(st, saved(b));

  RunState bad = st;
  erase(bad, "optimizer/v/layers.0.weight");
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b.load_state(StateReader(bad)); }),
            "checkpoint: no tensor 'optimizer/v/layers.0.weight' (was it written by another "
            "model?)");
}

TEST(StateSections, LossGuardRestoresItsMarkOnlyInsideAnEpoch) {
  ControllerConfig cc;
  LossGuard a(cc, true, Device::cpu());
  Tensor(a.state().running).copy_from(Tensor::from_vector<double>({0.75}, {1}));
  Tensor(a.state().flagged).copy_from(Tensor::from_vector<int64_t>({2}, {1}));
  Tensor(a.state().mark).copy_from(Tensor::from_vector<double>({4.5}, {1}));
  RunState st = saved(a);
  EXPECT_EQ(st.tensors.size(), 7u);
  EXPECT_EQ(st.tensors[0].first, "guard/mark");

  st.epoch_step = 0;  // an epoch boundary: the epoch starts its own mark
  LossGuard b(cc, true, Device::cpu());
  b.load_state(StateReader(st));
  EXPECT_EQ(b.flagged_total(), 2);
  EXPECT_EQ(b.state().running.to_vector<double>()[0], 0.75);
  EXPECT_EQ(b.state().mark.to_vector<double>()[0], 0.0);
  st.epoch_step = 3;
  LossGuard c(cc, true, Device::cpu());
  c.load_state(StateReader(st));
  kasmina::testing::expect_same_section(st, saved(c));

  LossGuard absent(cc, false, Device::cpu());
  EXPECT_TRUE(saved(absent).tensors.empty());
  absent.load_state(StateReader(RunState{}));  // nothing to read
}

TEST(StateSections, DataOrderChecksSizePositionAndBatchOrder) {
  const Config cfg = seeds_config();
  const DataSplits data = load_data(cfg.data, cfg.seed);
  const DeviceSplit train = upload_split(data.train, Device::cpu());
  const int64_t batch = 32;
  Tensor cursor_a = Tensor::zeros({1}, DType::i64);
  DataOrder a(cfg.seed, train, batch, cursor_a, Device::cpu());
  a.begin_epoch(2);
  cursor_a.copy_from(Tensor::from_vector<int64_t>({5}, {1}));
  RunState st = saved(a);
  st.epoch = 2;
  st.epoch_step = 5;
  EXPECT_EQ(st.get_int("data/train_size"), train.size);
  EXPECT_EQ(st.get_int("data/batch_size"), batch);

  Tensor cursor_b = Tensor::zeros({1}, DType::i64);
  DataOrder b(cfg.seed, train, batch, cursor_b, Device::cpu());
  b.load_state(StateReader(st));  // sets up epoch 2 at its sixth batch
  kasmina::testing::expect_same_section(st, saved(b));

  RunState bad = st;
  bad.ints["data/train_size"] = 10;
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b.load_state(StateReader(bad)); }),
            "checkpoint: the training split has 10 samples there but " +
                std::to_string(train.size) + " in this run");
  bad = st;
  bad.epoch_step = a.steps_per_epoch();
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b.load_state(StateReader(bad)); }),
            "checkpoint: position (epoch 2, step " + std::to_string(a.steps_per_epoch()) +
                ") does not fit " + std::to_string(a.steps_per_epoch()) + " steps per epoch");
  bad = st;
  bad.epoch = 1;
  EXPECT_EQ(kasmina::testing::user_error_message([&] { b.load_state(StateReader(bad)); }),
            "checkpoint: the stored batch order of epoch 2 differs from this run's (another seed "
            "or dataset)");
}

}  // namespace
