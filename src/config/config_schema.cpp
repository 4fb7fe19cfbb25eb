// Every key of the configuration, its type (from the member), its rule and, where it applies
// only to some variants (a layer type), the condition. configs/README.md documents the same
// keys.
//
// To add a key: add the member (with its default) to the struct in config.hpp and one
// `value(...)` line to the struct's table below; reading, range checking, --set, the resolved
// YAML and the error messages follow. A new section is a struct, a table function and one
// `section(...)` line in its parent; a list of sections is `list(...)`; a new enum needs its
// names in enum_names.hpp; a layer type's keys are in its schema (layer_schemas.hpp).
// Rules between keys go in config_checks.cpp.
#include "config/config_schema.hpp"

#include "config/blueprints.hpp"
#include "config/config_checks.hpp"
#include "config/enum_names.hpp"
#include "config/layer_schemas.hpp"
#include "config/limits.hpp"
#include "config/morph_names.hpp"
#include "config/rules.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::config_detail {

namespace {

const Section<AugmentConfig>& augment_table() {
  static const Section<AugmentConfig> table(
      {
          value("crop_padding", &AugmentConfig::crop_padding, in_range(0, 16)),
          value("flip", &AugmentConfig::flip),
      },
      {}, Section<AugmentConfig>::Style::flow);
  return table;
}

const Section<DataConfig>& data_table() {
  static const Section<DataConfig> table({
      value("dataset", &DataConfig::dataset),
      value("dir", &DataConfig::dir, non_empty()),
      value("validation", &DataConfig::validation, at_least(0)),
      value("normalize", &DataConfig::normalize),
      section("augment", &DataConfig::augment, augment_table()),
      value("spirals_train", &DataConfig::spirals_train,
            bounded(2, config_limits::kMaxSpiralsSamples)),
      value("spirals_test", &DataConfig::spirals_test,
            bounded(1, config_limits::kMaxSpiralsSamples)),
      value("spirals_noise", &DataConfig::spirals_noise, non_negative()),
      value("spirals_turns", &DataConfig::spirals_turns, above(0.0)),
  });
  return table;
}

const Section<ModelConfig>& model_table() {
  static const Section<ModelConfig> table({
      list("layers", &ModelConfig::layers, layer_table()),
      value("init", &ModelConfig::init, one_of(enum_names<InitScheme>())),
  });
  return table;
}

// Every optimizer key is accepted whatever the type (a key of the other optimizer is unused),
// so that `--set optimizer.type=sgd` works on a config written for AdamW.
const Section<OptimizerConfig>& optimizer_table() {
  static const Section<OptimizerConfig> table({
      value("type", &OptimizerConfig::type),
      value("lr", &OptimizerConfig::lr, above(0.0)),
      value("weight_decay", &OptimizerConfig::weight_decay, non_negative()),
      value("beta1", &OptimizerConfig::beta1, in_half_open(0.0, 1.0)),
      value("beta2", &OptimizerConfig::beta2, in_half_open(0.0, 1.0)),
      value("eps", &OptimizerConfig::eps, above(0.0)),
      value("momentum", &OptimizerConfig::momentum, in_half_open(0.0, 1.0)),
      value("nesterov", &OptimizerConfig::nesterov),
  });
  return table;
}

const Section<ScheduleConfig>& lr_schedule_table() {
  static const Section<ScheduleConfig> table({
      value("type", &ScheduleConfig::type),
      value("warmup_steps", &ScheduleConfig::warmup_steps, at_least(0)),
      value("min_lr", &ScheduleConfig::min_lr, non_negative()),
  });
  return table;
}

// One entry of the top-level `schedule:` list (written in flow style, one line each).
const Section<GerminationConfig>& germination_table() {
  static const Section<GerminationConfig> table(
      {
          value("step", &GerminationConfig::step, at_least(0)),
          value("layer", &GerminationConfig::layer, at_least(0)),
          value("seed", &GerminationConfig::seed, at_least(0)),
          value("blueprint", &GerminationConfig::blueprint, registered_blueprint()),
      },
      check_germination, Section<GerminationConfig>::Style::flow);
  return table;
}

const Section<ControllerConfig>& controller_table() {
  static const Section<ControllerConfig> table({
      value("type", &ControllerConfig::type),
      value("eval_every", &ControllerConfig::eval_every, at_least(1)),
      value("eval_batches", &ControllerConfig::eval_batches, at_least(1)),
      value("patience", &ControllerConfig::patience, at_least(1)),
      value("min_delta", &ControllerConfig::min_delta, non_negative()),
      value("max_active", &ControllerConfig::max_active, at_least(1)),
      value("max_added_parameters", &ControllerConfig::max_added_parameters, at_least(0)),
      value("embargo_steps", &ControllerConfig::embargo_steps, at_least(0)),
      value("ucb_c", &ControllerConfig::ucb_c, non_negative()),
      value("seed_choice", &ControllerConfig::seed_choice, one_of({"gradient", "health"})),
      value("germination_window", &ControllerConfig::germination_window, above(0.0)),
      value("grad_trigger_ratio", &ControllerConfig::grad_trigger_ratio, non_negative()),
      value("eval_z", &ControllerConfig::eval_z, non_negative()),
      value("spike_factor", &ControllerConfig::spike_factor, above(1.0)),
      value("debug_nan_step", &ControllerConfig::debug_nan_step, at_least(-1)),
  });
  return table;
}

const Section<TelemetryConfig>& telemetry_table() {
  static const Section<TelemetryConfig> table({
      value("enabled", &TelemetryConfig::enabled),
      value("every_steps", &TelemetryConfig::every_steps, at_least(1)),
      value("tensorboard", &TelemetryConfig::tensorboard),
  });
  return table;
}

const Section<CheckpointConfig>& checkpoint_table() {
  static const Section<CheckpointConfig> table({
      value("every_steps", &CheckpointConfig::every_steps, at_least(0)),
      value("every_epochs", &CheckpointConfig::every_epochs, at_least(0)),
      value("keep", &CheckpointConfig::keep, at_least(1)),
      value("at_end", &CheckpointConfig::at_end),
  });
  return table;
}

const Section<TrainConfig>& train_table() {
  static const Section<TrainConfig> table({
      value("epochs", &TrainConfig::epochs, at_least(1)),
      value("batch_size", &TrainConfig::batch_size, bounded(1, config_limits::kMaxBatch)),
      value("eval_batch_size", &TrainConfig::eval_batch_size, bounded(1, config_limits::kMaxBatch)),
      value("precision", &TrainConfig::precision),
      value("deterministic", &TrainConfig::deterministic),
      value("log_every_steps", &TrainConfig::log_every_steps, at_least(1)),
      value("graph", &TrainConfig::graph),
  });
  return table;
}

}  // namespace

// `type`, then every registered layer type's keys, each restricted to its type; the rules of a
// layer's own keys run after they are read.
const Section<LayerConfig>& layer_table() {
  static const Section<LayerConfig> table = [] {
    std::vector<Field<LayerConfig>> fields;
    // Reading `type` gives the layer that type's parameters with their defaults.
    Field<LayerConfig> type_field = value("type", &LayerConfig::type);
    type_field.read = [read = std::move(type_field.read)](
                          LayerConfig& layer, const YAML::Node& node, const ReadContext& ctx,
                          const std::string& path) {
      read(layer, node, ctx, path);
      layer.params = default_layer_params(layer.type);
    };
    fields.push_back(std::move(type_field));
    for (const LayerSchema& schema : layer_schemas()) {
      const LayerType type = schema.type;
      for (Field<LayerConfig>& f : schema.fields()) {
        auto own = f.applies;
        fields.push_back(std::move(f).only_if([type, own](const LayerConfig& layer) {
          return layer.type == type && (!own || own(layer));
        }));
      }
    }
    return Section<LayerConfig>(
        std::move(fields),
        [](LayerConfig& layer, const YAML::Node& node, const ReadContext& ctx,
           const std::string& path) {
          layer.line = node.IsDefined() ? node.Mark().line + 1 : 0;
          const LayerSchema& schema = layer_schema(layer.type);
          if (schema.check) schema.check(layer, node, ctx, path);
        },
        Section<LayerConfig>::Style::flow);
  }();
  static const bool linked = (link_nested_layers_shape(table.shape()), true);
  (void)linked;
  return table;
}

const Section<Config>& config_table() {
  static const Section<Config> table(
      {
          value("name", &Config::name, plain_name()),
          value("seed", &Config::seed),
          value("device", &Config::device, device_name()),
          blueprints_field(),  // before the layers and the schedule that name them
          value("autotune", &Config::autotune, one_of({"off", "on_first_use", "exhaustive"})),
          value("compile_limit_s", &Config::compile_limit_s, in_range(0.0, 3600.0)),
          section("data", &Config::data, data_table()),
          section("model", &Config::model, model_table()),
          section("optimizer", &Config::optimizer, optimizer_table()),
          section("lr_schedule", &Config::lr_schedule, lr_schedule_table()),
          list("schedule", &Config::schedule, germination_table()),
          section("controller", &Config::controller, controller_table()),
          section("train", &Config::train, train_table()),
          section("telemetry", &Config::telemetry, telemetry_table()),
          section("checkpoint", &Config::checkpoint, checkpoint_table()),
      },
      [](Config& c, const YAML::Node& root, const ReadContext& ctx, const std::string&) {
        check_config(c, root, ctx);
      });
  return table;
}

}  // namespace kasmina::config_detail
