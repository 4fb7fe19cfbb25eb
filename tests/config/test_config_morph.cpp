// The morphogenetic keys (kasmina layers, the germination schedule, controller, telemetry,
// checkpoint): defaults, every key read into its field, --set into them, and the round trip.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::without_origin;

// spirals, 2-64-[kasmina]-64-2 with two kasmina layers of width 64.
const std::string kTwoLayerYaml =
    "data: {dataset: spirals, validation: 200}\n"
    "model:\n"
    "  layers:\n"
    "    - {type: linear, out: 64}\n"
    "    - {type: kasmina, seeds: 16}\n"
    "    - {type: gelu}\n"
    "    - {type: kasmina, seeds: 4, blueprints: [diag_scale]}\n"
    "    - {type: linear, out: 2}\n";

// Every new key with a value other than its default.
const std::string kEveryKeyYaml =
    "data: {dataset: spirals, validation: 200}\n"
    "model:\n"
    "  layers:\n"
    "    - {type: linear, out: 64}\n"
    "    - type: kasmina\n"
    "      seeds: 16\n"
    "      blueprints: [low_rank, residual_mlp]\n"
    "      hidden: 8\n"
    "      rank: 2\n"
    "      grafting: grad_norm_gated\n"
    "      ramp_steps: 200\n"
    "      performance_gain: 5.5\n"
    "      drift_threshold: 0.25\n"
    "      grad_norm_lo: 0.5\n"
    "      grad_norm_hi: 4\n"
    "      min_germinated_steps: 2\n"
    "      min_training_steps: 30\n"
    "      min_grafting_steps: 3\n"
    "      min_stabilization_steps: 10\n"
    "      min_evaluating_steps: 11\n"
    "      min_fine_tuning_steps: 12\n"
    "      training_loss_threshold: 0.002\n"
    "      training_objective: task_gradient\n"
    "      training_gain_threshold: 0.125\n"
    "      training_gain_z: 1.5\n"
    "      max_training_steps: 400\n"
    "      max_evaluating_steps: 900\n"
    "      max_training_seeds: 3\n"
    "      ema_decay: 0.95\n"
    "      max_errors: 5\n"
    "      blueprint_lr: 0.0005\n"
    "      blueprint_weight_decay: 0.01\n"
    "      blueprint_warmup_steps: 25\n"
    "      pool_slots: 12\n"
    "      telemetry_every: 40\n"
    "      dead_eps: 1.0e-5\n"
    "    - {type: linear, out: 2}\n"
    "schedule:\n"
    "  - {step: 10, layer: 0, seed: 15, blueprint: low_rank}\n"
    "  - {step: 0, layer: 0, seed: 2}\n"
    "controller:\n"
    "  type: heuristic\n"
    "  eval_every: 100\n"
    "  eval_batches: 2\n"
    "  patience: 5\n"
    "  min_delta: 0.01\n"
    "  max_active: 3\n"
    "  max_added_parameters: 5000\n"
    "  embargo_steps: 300\n"
    "  ucb_c: 0.5\n"
    "  seed_choice: health\n"
    "  germination_window: 0.25\n"
    "  grad_trigger_ratio: 2.5\n"
    "  spike_factor: 2.5\n"
    "  debug_nan_step: 77\n"
    "telemetry: {enabled: false, every_steps: 10}\n"
    "checkpoint: {every_steps: 500, every_epochs: 0, keep: 7, at_end: false}\n";

TEST(MorphConfig, KasminaLayerDefaults) {
  const Config c = parse_config(kTwoLayerYaml, "two.yaml");
  ASSERT_EQ(c.model.layers.size(), 5u);
  const LayerConfig& layer = c.model.layers[1];
  EXPECT_EQ(layer.type, LayerType::kasmina);
  EXPECT_EQ(layer.as<KasminaConfig>().seeds, 16);
  EXPECT_EQ(layer.line, 5);
  // Everything but seeds (and the line) is the struct's default.
  LayerConfig expected(LayerType::kasmina);
  expected.as<KasminaConfig>().seeds = 16;
  expected.line = 5;
  EXPECT_EQ(layer, expected);
  EXPECT_EQ(layer.as<KasminaConfig>().blueprints,
            (std::vector<std::string>{"residual_mlp", "low_rank", "diag_scale"}));
  EXPECT_EQ(layer.as<KasminaConfig>().grafting, "fixed_ramp");
  EXPECT_EQ(layer.as<KasminaConfig>().ramp_steps, 100);
  EXPECT_EQ(c.model.layers[3].as<KasminaConfig>().blueprints,
            std::vector<std::string>{"diag_scale"});
}

TEST(MorphConfig, SectionDefaults) {
  const Config c = parse_config(kTwoLayerYaml, "two.yaml");
  EXPECT_TRUE(c.schedule.empty());
  EXPECT_EQ(c.controller, ControllerConfig{});
  EXPECT_EQ(c.controller.type, ControllerType::none);
  EXPECT_EQ(c.controller.debug_nan_step, -1);
  EXPECT_EQ(c.telemetry, TelemetryConfig{});
  EXPECT_TRUE(c.telemetry.enabled);
  EXPECT_EQ(c.telemetry.every_steps, 50);
  EXPECT_EQ(c.checkpoint, CheckpointConfig{});
  EXPECT_EQ(c.checkpoint.every_epochs, 1);
  EXPECT_EQ(c.checkpoint.keep, 3);
  // Empty sections keep the defaults too.
  const Config empty = parse_config(kTwoLayerYaml +
                                        "controller:\ntelemetry: {}\ncheckpoint:\n"
                                        "schedule: []\n",
                                    "two.yaml");
  EXPECT_EQ(without_origin(empty), without_origin(c));
}

TEST(MorphConfig, EveryKeyIsRead) {
  const Config c = parse_config(kEveryKeyYaml, "every.yaml");
  const KasminaConfig& k = c.model.layers[1].as<KasminaConfig>();
  EXPECT_EQ(k.seeds, 16);
  EXPECT_EQ(k.blueprints, (std::vector<std::string>{"low_rank", "residual_mlp"}));
  EXPECT_EQ(k.hidden, 8);
  EXPECT_EQ(k.rank, 2);
  EXPECT_EQ(k.grafting, "grad_norm_gated");
  EXPECT_EQ(k.ramp_steps, 200);
  EXPECT_DOUBLE_EQ(k.performance_gain, 5.5);
  EXPECT_DOUBLE_EQ(k.drift_threshold, 0.25);
  EXPECT_DOUBLE_EQ(k.grad_norm_lo, 0.5);
  EXPECT_DOUBLE_EQ(k.grad_norm_hi, 4.0);
  EXPECT_EQ(k.min_germinated_steps, 2);
  EXPECT_EQ(k.min_training_steps, 30);
  EXPECT_EQ(k.min_grafting_steps, 3);
  EXPECT_EQ(k.min_stabilization_steps, 10);
  EXPECT_EQ(k.min_evaluating_steps, 11);
  EXPECT_EQ(k.min_fine_tuning_steps, 12);
  EXPECT_DOUBLE_EQ(k.training_loss_threshold, 0.002);
  EXPECT_EQ(k.training_objective, "task_gradient");
  EXPECT_DOUBLE_EQ(k.training_gain_threshold, 0.125);
  EXPECT_DOUBLE_EQ(k.training_gain_z, 1.5);
  EXPECT_EQ(k.max_training_steps, 400);
  EXPECT_EQ(k.max_evaluating_steps, 900);
  EXPECT_EQ(k.max_training_seeds, 3);
  EXPECT_DOUBLE_EQ(k.ema_decay, 0.95);
  EXPECT_EQ(k.max_errors, 5);
  EXPECT_DOUBLE_EQ(k.blueprint_lr, 0.0005);
  EXPECT_DOUBLE_EQ(k.blueprint_weight_decay, 0.01);
  EXPECT_EQ(k.blueprint_warmup_steps, 25);
  EXPECT_EQ(k.pool_slots, 12);
  EXPECT_EQ(k.telemetry_every, 40);
  EXPECT_DOUBLE_EQ(k.dead_eps, 1e-5);

  ASSERT_EQ(c.schedule.size(), 2u);
  EXPECT_EQ(c.schedule[0], (GerminationConfig{10, 0, 15, "low_rank", 39}));
  EXPECT_EQ(c.schedule[1], (GerminationConfig{0, 0, 2, "residual_mlp", 40}));

  const ControllerConfig& ctl = c.controller;
  EXPECT_EQ(ctl.type, ControllerType::heuristic);
  EXPECT_EQ(ctl.eval_every, 100);
  EXPECT_EQ(ctl.eval_batches, 2);
  EXPECT_EQ(ctl.patience, 5);
  EXPECT_DOUBLE_EQ(ctl.min_delta, 0.01);
  EXPECT_EQ(ctl.max_active, 3);
  EXPECT_EQ(ctl.max_added_parameters, 5000);
  EXPECT_EQ(ctl.embargo_steps, 300);
  EXPECT_DOUBLE_EQ(ctl.ucb_c, 0.5);
  EXPECT_EQ(ctl.seed_choice, "health");
  EXPECT_DOUBLE_EQ(ctl.germination_window, 0.25);
  EXPECT_DOUBLE_EQ(ctl.grad_trigger_ratio, 2.5);
  EXPECT_DOUBLE_EQ(ctl.spike_factor, 2.5);
  EXPECT_EQ(ctl.debug_nan_step, 77);

  EXPECT_EQ(c.telemetry, (TelemetryConfig{false, 10}));
  EXPECT_EQ(c.checkpoint, (CheckpointConfig{500, 0, 7, false}));
}

TEST(MorphConfig, EnumNames) {
  EXPECT_STREQ(to_string(LayerType::kasmina), "kasmina");
  EXPECT_STREQ(to_string(ControllerType::none), "none");
  EXPECT_STREQ(to_string(ControllerType::schedule), "schedule");
  EXPECT_STREQ(to_string(ControllerType::heuristic), "heuristic");
}

TEST(MorphConfig, SetIntoAScheduleEntry) {
  const std::string yaml =
      kTwoLayerYaml +
      "controller: {type: schedule}\nschedule:\n  - {step: 4, layer: 1, seed: 0, "
      "blueprint: diag_scale}\n";
  const Config c = parse_config(yaml, "s.yaml",
                                Overrides{{"schedule.0.seed=3", "schedule.0.step=9",
                                           "schedule.1={step: 2, layer: 0, seed: 15}"}});
  ASSERT_EQ(c.schedule.size(), 2u);
  EXPECT_EQ(c.schedule[0].seed, 3);
  EXPECT_EQ(c.schedule[0].step, 9);
  EXPECT_EQ(c.schedule[0].layer, 1);
  EXPECT_EQ(c.schedule[0].blueprint, "diag_scale");
  EXPECT_EQ(c.schedule[1].step, 2);
  EXPECT_EQ(c.schedule[1].layer, 0);
  EXPECT_EQ(c.schedule[1].seed, 15);
  EXPECT_EQ(c.schedule[1].blueprint, "residual_mlp");
}

TEST(MorphConfig, SetCreatesTheScheduleAndSections) {
  const Config c = parse_config(
      kTwoLayerYaml, "s.yaml",
      Overrides{{"controller.type=schedule", "schedule.0={step: 1, layer: 0, seed: 5}",
                 "telemetry.every_steps=7", "telemetry.enabled=false", "checkpoint.keep=9",
                 "checkpoint.every_steps=250", "controller.spike_factor=4"}});
  ASSERT_EQ(c.schedule.size(), 1u);
  EXPECT_EQ(c.schedule[0].seed, 5);
  EXPECT_EQ(c.controller.type, ControllerType::schedule);
  EXPECT_DOUBLE_EQ(c.controller.spike_factor, 4.0);
  EXPECT_EQ(c.telemetry, (TelemetryConfig{false, 7}));
  EXPECT_EQ(c.checkpoint.keep, 9);
  EXPECT_EQ(c.checkpoint.every_steps, 250);
}

TEST(MorphConfig, SetIntoAKasminaLayer) {
  const Config c =
      parse_config(kTwoLayerYaml, "s.yaml",
                   Overrides{{"model.layers.1.seeds=8", "model.layers.1.grafting=drift_controlled",
                              "model.layers.3.blueprints=[low_rank, residual_mlp]",
                              "model.layers.1.ema_decay=0.5"}});
  EXPECT_EQ(c.model.layers[1].as<KasminaConfig>().seeds, 8);
  EXPECT_EQ(c.model.layers[1].as<KasminaConfig>().grafting, "drift_controlled");
  EXPECT_DOUBLE_EQ(c.model.layers[1].as<KasminaConfig>().ema_decay, 0.5);
  EXPECT_EQ(c.model.layers[3].as<KasminaConfig>().blueprints,
            (std::vector<std::string>{"low_rank", "residual_mlp"}));
}

TEST(MorphConfig, RoundTripOfEveryKey) {
  const Config c = parse_config(kEveryKeyYaml, "every.yaml");
  const std::string yaml = testing::expect_round_trip(c);

  const YAML::Node root = YAML::Load(yaml);
  for (const char* key : {"lr_schedule", "schedule", "controller", "telemetry", "checkpoint"}) {
    EXPECT_TRUE(root[key].IsDefined()) << key;
  }
  ASSERT_TRUE(root["schedule"].IsSequence());
  EXPECT_EQ(root["schedule"][1]["blueprint"].as<std::string>(), "residual_mlp");
  EXPECT_EQ(root["controller"]["type"].as<std::string>(), "heuristic");
  const YAML::Node kasmina = root["model"]["layers"][1];
  EXPECT_EQ(kasmina["type"].as<std::string>(), "kasmina");
  EXPECT_EQ(kasmina.size(), 32u);  // type and the 31 kasmina keys, nothing else
  EXPECT_FALSE(kasmina["out"].IsDefined());
  EXPECT_EQ(kasmina["blueprints"].size(), 2u);
  EXPECT_EQ(root["model"]["layers"][0]["seeds"].IsDefined(), false);
}

TEST(MorphConfig, RoundTripOfDefaults) {
  const Config c = parse_config(kTwoLayerYaml, "two.yaml");
  const std::string yaml = to_yaml(c);
  EXPECT_EQ(without_origin(parse_config(yaml, "resolved.yaml")), without_origin(c)) << yaml;
  const YAML::Node root = YAML::Load(yaml);
  EXPECT_EQ(root["schedule"].size(), 0u);
  EXPECT_EQ(root["controller"]["type"].as<std::string>(), "none");
  EXPECT_EQ(root["checkpoint"]["at_end"].as<bool>(), true);
}

}  // namespace
}  // namespace kasmina
