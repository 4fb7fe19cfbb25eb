// Mistakes in the morphogenetic keys (kasmina layers, the germination schedule, controller,
// telemetry, checkpoint) give one exact message naming the file, line, key and what is allowed.
#include <ostream>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::insert_line;
using testing::parse_error;
using testing::replace_line;

// A valid config with one kasmina layer of width 128 and a hand schedule. Lines: 1 name,
// 2 data, 3 dataset, 4 validation, 5 model, 6 layers, 7 linear 128, 8 relu, 9 kasmina,
// 10 linear 10, 11 controller, 12 type, 13 schedule, 14 entry, 15 telemetry, 16 checkpoint.
const std::string kMorphYaml =
    "name: grow\n"
    "data:\n"
    "  dataset: fashion_mnist\n"
    "  validation: 5000\n"
    "model:\n"
    "  layers:\n"
    "    - {type: linear, out: 128}\n"
    "    - {type: relu}\n"
    "    - {type: kasmina, seeds: 8}\n"
    "    - {type: linear, out: 10}\n"
    "controller:\n"
    "  type: schedule\n"
    "schedule:\n"
    "  - {step: 100, layer: 0, seed: 3, blueprint: low_rank}\n"
    "telemetry: {every_steps: 25}\n"
    "checkpoint: {keep: 2}\n";

std::string kasmina_layer(const std::string& keys) {
  return "    - {type: kasmina, " + keys + "}";
}
std::string with_layer(const std::string& keys) {
  return replace_line(kMorphYaml, 9, kasmina_layer(keys));
}
std::string with_entry(const std::string& keys) {
  return replace_line(kMorphYaml, 14, "  - {" + keys + "}");
}

const std::string kBlueprints = "residual_mlp, low_rank, diag_scale, row_mlp";
const std::string kSeeds128 =
    "(allowed: the divisors of 128 with 128/seeds <= 64, or a multiple of 4 up to 128: 1, 2, 4, "
    "8, 16, 32, 64, 128)";

struct MessageCase {
  std::string label;
  std::string yaml;
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const MessageCase& c) {
  return os << c.label;
}

const MessageCase kMessageCases[] = {
    // the kasmina layer's own keys
    {"seeds_missing", replace_line(kMorphYaml, 9, "    - {type: kasmina}"),
     "cfg.yaml:9: model.layers[2]: a kasmina layer needs 'seeds' (how many chunks its width is "
     "split into, >= 1)"},
    {"seeds_zero", with_layer("seeds: 0"),
     "cfg.yaml:9: model.layers[2].seeds: must be >= 1, got 0"},
    {"seeds_beyond_int32", with_layer("seeds: 3000000000"),
     "cfg.yaml:9: model.layers[2].seeds: must be <= 2147483647, got 3000000000"},
    {"blueprints_empty", with_layer("seeds: 8, blueprints: []"),
     "cfg.yaml:9: model.layers[2].blueprints: must name at least one blueprint (allowed: " +
         kBlueprints + ")"},
    {"blueprints_unknown_name", with_layer("seeds: 8, blueprints: [residual_mlp, mlp]"),
     "cfg.yaml:9: model.layers[2].blueprints[1]: 'mlp' is not allowed (allowed: " + kBlueprints +
         ")"},
    {"blueprints_repeated", with_layer("seeds: 8, blueprints: [low_rank, diag_scale, low_rank]"),
     "cfg.yaml:9: model.layers[2].blueprints[2]: 'low_rank' is listed twice (each blueprint at "
     "most once)"},
    {"blueprints_not_a_list", with_layer("seeds: 8, blueprints: low_rank"),
     "cfg.yaml:9: model.layers[2].blueprints: expected a list, got 'low_rank'"},
    {"grafting", with_layer("seeds: 8, grafting: linear"),
     "cfg.yaml:9: model.layers[2].grafting: 'linear' is not allowed (allowed: fixed_ramp, "
     "performance_linked, drift_controlled, grad_norm_gated)"},
    {"hidden_too_wide", with_layer("seeds: 8, hidden: 65"),
     "cfg.yaml:9: model.layers[2].hidden: must be in [1, 64], got 65"},
    {"rank_zero", with_layer("seeds: 8, rank: 0"),
     "cfg.yaml:9: model.layers[2].rank: must be in [1, 64], got 0"},
    {"ramp_steps", with_layer("seeds: 8, ramp_steps: -1"),
     "cfg.yaml:9: model.layers[2].ramp_steps: must be >= 0, got -1"},
    {"performance_gain", with_layer("seeds: 8, performance_gain: -1"),
     "cfg.yaml:9: model.layers[2].performance_gain: must be >= 0, got -1"},
    {"drift_threshold", with_layer("seeds: 8, drift_threshold: 0"),
     "cfg.yaml:9: model.layers[2].drift_threshold: must be > 0, got 0"},
    {"grad_norm_negative", with_layer("seeds: 8, grad_norm_hi: -2"),
     "cfg.yaml:9: model.layers[2].grad_norm_hi: must be >= 0, got -2"},
    {"grad_norm_band_reversed", with_layer("seeds: 8, grad_norm_lo: 2.5, grad_norm_hi: 1"),
     "cfg.yaml:9: model.layers[2].grad_norm_lo: must be <= grad_norm_hi (1), got 2.5"},
    {"min_steps_negative", with_layer("seeds: 8, min_stabilization_steps: -1"),
     "cfg.yaml:9: model.layers[2].min_stabilization_steps: must be >= 0, got -1"},
    {"training_loss_threshold", with_layer("seeds: 8, training_loss_threshold: 0"),
     "cfg.yaml:9: model.layers[2].training_loss_threshold: must be > 0, got 0"},
    {"max_training_steps", with_layer("seeds: 8, max_training_steps: 0"),
     "cfg.yaml:9: model.layers[2].max_training_steps: must be >= 1, got 0"},
    {"max_evaluating_steps", with_layer("seeds: 8, max_evaluating_steps: -5"),
     "cfg.yaml:9: model.layers[2].max_evaluating_steps: must be >= 1, got -5"},
    {"max_training_seeds", with_layer("seeds: 8, max_training_seeds: 0"),
     "cfg.yaml:9: model.layers[2].max_training_seeds: must be >= 1, got 0"},
    {"max_errors", with_layer("seeds: 8, max_errors: 0"),
     "cfg.yaml:9: model.layers[2].max_errors: must be >= 1, got 0"},
    {"ema_decay_one", with_layer("seeds: 8, ema_decay: 1"),
     "cfg.yaml:9: model.layers[2].ema_decay: must be in [0, 1), got 1"},
    {"blueprint_lr", with_layer("seeds: 8, blueprint_lr: 0"),
     "cfg.yaml:9: model.layers[2].blueprint_lr: must be > 0, got 0"},
    {"blueprint_weight_decay", with_layer("seeds: 8, blueprint_weight_decay: -0.1"),
     "cfg.yaml:9: model.layers[2].blueprint_weight_decay: must be >= 0, got -0.1"},
    {"pool_slots", with_layer("seeds: 8, pool_slots: 0"),
     "cfg.yaml:9: model.layers[2].pool_slots: must be >= 1, got 0"},
    {"telemetry_every", with_layer("seeds: 8, telemetry_every: 0"),
     "cfg.yaml:9: model.layers[2].telemetry_every: must be >= 1, got 0"},
    {"dead_eps", with_layer("seeds: 8, dead_eps: -1e-6"),
     "cfg.yaml:9: model.layers[2].dead_eps: must be >= 0, got -1e-6"},
    {"kasmina_key_on_a_linear_layer", replace_line(kMorphYaml, 7, "    - {out: 128, seeds: 4}"),
     "cfg.yaml:7: unknown key 'seeds' in 'model.layers[0]' (allowed: type, out, in, bias"
     ", grow_from, grow_first_epoch, grow_epochs, grow_init, grow_schedule)"},
    {"misspelt_kasmina_key", with_layer("seeds: 8, ramp_step: 10"),
     "cfg.yaml:9: unknown key 'ramp_step' in 'model.layers[2]' (did you mean 'ramp_steps'? "
     "allowed: type, seeds, blueprints, hidden, rank, grafting, ramp_steps, performance_gain, "
     "drift_threshold, grad_norm_lo, grad_norm_hi, min_germinated_steps, min_training_steps, "
     "min_grafting_steps, min_stabilization_steps, min_evaluating_steps, min_fine_tuning_steps, "
     "training_objective, training_loss_threshold, training_gain_threshold, training_gain_z, "
     "max_training_steps, "
     "max_evaluating_steps, max_training_seeds, "
     "ema_decay, max_errors, blueprint_lr, blueprint_weight_decay, blueprint_warmup_steps, "
     "pool_slots, telemetry_every, dead_eps)"},
    // seeds against the width the layer receives
    {"seeds_do_not_divide_the_width", with_layer("seeds: 3"),
     "cfg.yaml:9: model.layers[2].seeds: is 3, which does not divide the width 128 that the "
     "layer receives " +
         kSeeds128},
    {"chunk_wider_than_128",
     replace_line(with_layer("seeds: 1"), 7, "    - {type: linear, out: 256}"),
     "cfg.yaml:9: model.layers[2].seeds: is 1, which gives chunks of 256 values; the kernels "
     "handle chunks <= 64, or a multiple of 4 up to 128 (allowed: the divisors of 256 with "
     "256/seeds <= 64, or a multiple of 4 up to 128: 2, 4, 8, 16, 32, 64, 128, 256)"},
    {"kasmina_on_the_input_features",
     replace_line(replace_line(kMorphYaml, 7, "    - {type: kasmina, seeds: 8}"), 9,
                  "    - {type: relu}"),
     "cfg.yaml:7: model.layers[0].seeds: is 8, which gives chunks of 98 values; the kernels "
     "handle chunks <= 64, or a multiple of 4 up to 128 (allowed: the divisors of 784 with "
     "784/seeds <= 64, or a multiple of 4 up to 128: 7, 14, 16, 28, 49, 56, 98, 112, 196, 392, "
     "784)"},
    {"kasmina_as_the_last_layer", insert_line(kMorphYaml, 11, "    - {type: kasmina, seeds: 5}"),
     "cfg.yaml:11: model.layers[4]: is a kasmina layer; the model must end with a linear layer "
     "with out: 10 (one score per fashion_mnist class)"},
    // the germination schedule
    {"entry_step_negative", with_entry("step: -1, layer: 0, seed: 3, blueprint: low_rank"),
     "cfg.yaml:14: schedule[0].step: must be >= 0, got -1"},
    {"entry_unknown_key", with_entry("stpe: 1, layer: 0, seed: 3"),
     "cfg.yaml:14: unknown key 'stpe' in 'schedule[0]' (did you mean 'step'? allowed: step, "
     "layer, seed, blueprint)"},
    {"entry_blueprint_unknown", with_entry("step: 1, layer: 0, seed: 3, blueprint: big"),
     "cfg.yaml:14: schedule[0].blueprint: 'big' is not allowed (allowed: " + kBlueprints + ")"},
    {"entry_layer_out_of_range", with_entry("step: 1, layer: 1, seed: 3"),
     "cfg.yaml:14: schedule[0].layer: is 1 but the model has 1 kasmina layer (allowed: 0..0, "
     "counted in model order)"},
    {"entry_without_kasmina_layer", replace_line(kMorphYaml, 9, "    - {type: gelu}"),
     "cfg.yaml:14: schedule[0].layer: is 0 but the model has no kasmina layer (add one to "
     "model.layers, e.g. {type: kasmina, seeds: 8})"},
    {"entry_seed_out_of_range", with_entry("step: 1, layer: 0, seed: 8"),
     "cfg.yaml:14: schedule[0].seed: is 8 but kasmina layer 0 (model.layers[2]) has 8 seeds "
     "(allowed: 0..7)"},
    {"entry_blueprint_not_allowed_by_the_layer",
     with_layer("seeds: 8, blueprints: [residual_mlp, diag_scale]"),
     "cfg.yaml:14: schedule[0].blueprint: 'low_rank' is not one of the blueprints of kasmina "
     "layer 0 (model.layers[2]) (allowed: residual_mlp, diag_scale)"},
    {"second_entry_points_at_its_line",
     insert_line(kMorphYaml, 15, "  - {step: 5, layer: 0, seed: 12, blueprint: residual_mlp}"),
     "cfg.yaml:15: schedule[1].seed: is 12 but kasmina layer 0 (model.layers[2]) has 8 seeds "
     "(allowed: 0..7)"},
    {"schedule_not_a_list", replace_line(replace_line(kMorphYaml, 14, ""), 13, "schedule: 5"),
     "cfg.yaml:13: schedule: expected a list, got '5'"},
    {"old_lr_schedule_key",
     replace_line(replace_line(kMorphYaml, 14, "  type: cosine"), 12, "  type: none"),
     "cfg.yaml:14: schedule: expected a list of germinations {step, layer, seed, blueprint}, got "
     "a mapping (the learning-rate schedule is now 'lr_schedule')"},
    // the controller against the schedule and the validation split
    {"schedule_without_controller", replace_line(kMorphYaml, 12, "  type: none"),
     "cfg.yaml:14: schedule: has 1 germination but controller.type is none, which runs no "
     "schedule (set controller.type: schedule)"},
    {"schedule_controller_without_schedule", replace_line(kMorphYaml, 14, "  []"),
     "cfg.yaml:12: controller.type: is schedule but the 'schedule' list is empty (add "
     "germinations such as {step: 100, layer: 0, seed: 0, blueprint: residual_mlp}, or use none "
     "or heuristic)"},
    {"heuristic_without_validation",
     replace_line(replace_line(kMorphYaml, 12, "  type: heuristic"), 4, "  validation: 0"),
     "cfg.yaml:12: controller.type: is heuristic, which needs a validation split: set "
     "data.validation > 0 (its decisions must not use the test split)"},
    {"controller_type", replace_line(kMorphYaml, 12, "  type: grow"),
     "cfg.yaml:12: controller.type: 'grow' is not allowed (allowed: none, schedule, heuristic)"},
    {"controller_unknown_key", insert_line(kMorphYaml, 13, "  patiense: 3"),
     "cfg.yaml:13: unknown key 'patiense' in 'controller' (did you mean 'patience'? allowed: "
     "type, eval_every, eval_batches, patience, min_delta, max_active, max_added_parameters, "
     "embargo_steps, ucb_c, seed_choice, germination_window, grad_trigger_ratio, eval_z, "
     "spike_factor, "
     "debug_nan_step)"},
    {"eval_every", insert_line(kMorphYaml, 13, "  eval_every: 0"),
     "cfg.yaml:13: controller.eval_every: must be >= 1, got 0"},
    {"eval_batches", insert_line(kMorphYaml, 13, "  eval_batches: 0"),
     "cfg.yaml:13: controller.eval_batches: must be >= 1, got 0"},
    {"patience", insert_line(kMorphYaml, 13, "  patience: 0"),
     "cfg.yaml:13: controller.patience: must be >= 1, got 0"},
    {"min_delta", insert_line(kMorphYaml, 13, "  min_delta: -0.5"),
     "cfg.yaml:13: controller.min_delta: must be >= 0, got -0.5"},
    {"max_active", insert_line(kMorphYaml, 13, "  max_active: 0"),
     "cfg.yaml:13: controller.max_active: must be >= 1, got 0"},
    {"max_added_parameters", insert_line(kMorphYaml, 13, "  max_added_parameters: -1"),
     "cfg.yaml:13: controller.max_added_parameters: must be >= 0, got -1"},
    {"embargo_steps", insert_line(kMorphYaml, 13, "  embargo_steps: -1"),
     "cfg.yaml:13: controller.embargo_steps: must be >= 0, got -1"},
    {"ucb_c", insert_line(kMorphYaml, 13, "  ucb_c: -1"),
     "cfg.yaml:13: controller.ucb_c: must be >= 0, got -1"},
    {"spike_factor", insert_line(kMorphYaml, 13, "  spike_factor: 1"),
     "cfg.yaml:13: controller.spike_factor: must be > 1, got 1"},
    {"debug_nan_step", insert_line(kMorphYaml, 13, "  debug_nan_step: -2"),
     "cfg.yaml:13: controller.debug_nan_step: must be >= -1, got -2"},
    // telemetry and checkpoint
    {"telemetry_every_steps", replace_line(kMorphYaml, 15, "telemetry: {every_steps: 0}"),
     "cfg.yaml:15: telemetry.every_steps: must be >= 1, got 0"},
    {"telemetry_enabled", replace_line(kMorphYaml, 15, "telemetry: {enabled: yes please}"),
     "cfg.yaml:15: telemetry.enabled: expected true or false, got 'yes please'"},
    {"checkpoint_keep", replace_line(kMorphYaml, 16, "checkpoint: {keep: 0}"),
     "cfg.yaml:16: checkpoint.keep: must be >= 1, got 0"},
    {"checkpoint_every_steps", replace_line(kMorphYaml, 16, "checkpoint: {every_steps: -1}"),
     "cfg.yaml:16: checkpoint.every_steps: must be >= 0, got -1"},
    {"checkpoint_every_epochs", replace_line(kMorphYaml, 16, "checkpoint: {every_epochs: -3}"),
     "cfg.yaml:16: checkpoint.every_epochs: must be >= 0, got -3"},
    {"checkpoint_unknown_key", replace_line(kMorphYaml, 16, "checkpoint: {keeps: 2}"),
     "cfg.yaml:16: unknown key 'keeps' in 'checkpoint' (did you mean 'keep'? allowed: "
     "every_steps, every_epochs, keep, at_end)"},
};

class MorphConfigMessage : public ::testing::TestWithParam<MessageCase> {};

TEST_P(MorphConfigMessage, IsExact) {
  EXPECT_EQ(parse_error(GetParam().yaml), GetParam().message) << GetParam().yaml;
}

INSTANTIATE_TEST_SUITE_P(MorphConfigErrors, MorphConfigMessage, ::testing::ValuesIn(kMessageCases),
                         [](const auto& info) { return info.param.label; });

TEST(MorphConfigErrors, BaseConfigIsValid) {
  EXPECT_NO_THROW(parse_config(kMorphYaml, "cfg.yaml"));
}

TEST(MorphConfigErrors, ValuesAtTheEdgeOfTheirRangeAreAccepted) {
  const std::string edges =
      "seeds: 128, hidden: 64, rank: 1, ramp_steps: 0, performance_gain: 0, grad_norm_lo: 3, "
      "grad_norm_hi: 3, min_germinated_steps: 0, min_fine_tuning_steps: 0, max_errors: 1, "
      "ema_decay: 0, blueprint_weight_decay: 0, pool_slots: 1, telemetry_every: 1, dead_eps: 0";
  const Config c = parse_config(with_entry("step: 0, layer: 0, seed: 127"), "cfg.yaml",
                                Overrides{{"model.layers.2={type: kasmina, " + edges + "}"}});
  EXPECT_EQ(c.model.layers[2].as<KasminaConfig>().seeds, 128);
  EXPECT_EQ(c.model.layers[2].as<KasminaConfig>().hidden, 64);
  EXPECT_EQ(c.model.layers[2].as<KasminaConfig>().ramp_steps, 0);  // no ramp
  EXPECT_DOUBLE_EQ(c.model.layers[2].as<KasminaConfig>().grad_norm_lo, 3.0);
  EXPECT_EQ(c.schedule[0].seed, 127);
  // chunk of exactly 64 values
  EXPECT_EQ(parse_config(with_layer("seeds: 2"), "cfg.yaml", Overrides{{"schedule.0.seed=1"}})
                .model.layers[2]
                .as<KasminaConfig>()
                .seeds,
            2);
  // chunk of exactly 128 values (the largest)
  EXPECT_EQ(parse_config(with_layer("seeds: 1"), "cfg.yaml", Overrides{{"schedule.0.seed=0"}})
                .model.layers[2]
                .as<KasminaConfig>()
                .seeds,
            1);
  const std::string controller_edges =
      "controller: {type: schedule, eval_every: 1, eval_batches: 1, patience: 1, min_delta: 0, "
      "max_active: 1, max_added_parameters: 0, embargo_steps: 0, ucb_c: 0, spike_factor: 1.001, "
      "debug_nan_step: -1, germination_window: 1, grad_trigger_ratio: 0}";
  const std::string yaml = replace_line(replace_line(kMorphYaml, 12, ""), 11, controller_edges);
  EXPECT_EQ(parse_config(yaml, "cfg.yaml").controller.max_added_parameters, 0);
  EXPECT_EQ(parse_config(yaml, "cfg.yaml").controller.germination_window, 1.0);
  EXPECT_NO_THROW(parse_config(
      kMorphYaml, "cfg.yaml",
      Overrides{{"checkpoint={every_steps: 0, every_epochs: 0, keep: 1, at_end: false}"}}));
}

TEST(MorphConfigErrors, GrowthControlOptionsAreChecked) {
  // {controller line, message}: the seed choice, the germination window, the gradient trigger.
  const std::pair<std::string, std::string> cases[] = {
      {"seed_choice: random", "seed_choice: 'random' is not allowed (allowed: gradient, health)"},
      {"germination_window: 0", "germination_window: must be > 0, got 0"},
      {"germination_window: 1.5",
       "germination_window: must be in (0, 1] (the fraction of the training steps in which "
       "seeds may germinate), got 1.5"},
      {"grad_trigger_ratio: -1", "grad_trigger_ratio: must be >= 0, got -1"}};
  for (const auto& [line, message] : cases)
    EXPECT_EQ(parse_error(insert_line(kMorphYaml, 13, "  " + line), "cfg.yaml"),
              "cfg.yaml:13: controller." + message);
}

TEST(MorphConfigErrors, MistakesInOverridesNameTheSet) {
  EXPECT_EQ(parse_error(kMorphYaml, "cfg.yaml", {"schedule.0.seed=8"}),
            "--set schedule.0.seed=8: schedule[0].seed: is 8 but kasmina layer 0 "
            "(model.layers[2]) has 8 seeds (allowed: 0..7)");
  EXPECT_EQ(parse_error(kMorphYaml, "cfg.yaml", {"model.layers.2.seeds=3"}),
            "--set model.layers.2.seeds=3: model.layers[2].seeds: is 3, which does not divide the "
            "width 128 that the layer receives " +
                kSeeds128);
  EXPECT_EQ(parse_error(kMorphYaml, "cfg.yaml", {"controller.type=heuristic", "data.validation=0"}),
            "--set controller.type=heuristic: controller.type: is heuristic, which needs a "
            "validation split: set data.validation > 0 (its decisions must not use the test "
            "split)");
  EXPECT_EQ(parse_error(kMorphYaml, "cfg.yaml", {"schedule.3.seed=1"}),
            "--set schedule.3.seed=1: '3' is not an index of schedule (it has 1 entries: use "
            "0..1, where 1 appends one)");
  EXPECT_EQ(parse_error(kMorphYaml, "cfg.yaml", {"telemetry.every=5"}),
            "--set telemetry.every=5: unknown key 'every' in 'telemetry' (did you mean "
            "'every_steps'? allowed: enabled, every_steps, tensorboard)");
}

}  // namespace
}  // namespace kasmina
