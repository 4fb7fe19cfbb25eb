// Every key of the configuration, its type (from the member), its rule and, where it applies
// only to some variants (a layer type), the condition. configs/README.md documents the same
// keys.
//
// To add a key: add the member (with its default) to the struct in config.hpp and one
// `value(...)` line to the struct's table below; reading, range checking, --set, the resolved
// YAML and the error messages follow. A new section is a struct, a table function and one
// `section(...)` line in its parent; a list of sections is `list(...)`; a new enum needs its
// names in enum_names.hpp; a key for one layer type only takes `.only_if(layer_is<...>)`.
// Rules between keys go in config_checks.cpp.
#include "config/config_schema.hpp"

#include "config/config_checks.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

namespace {

template <LayerType T>
bool layer_is(const LayerConfig& layer) {
  return layer.type == T;
}

const Section<DataConfig>& data_table() {
  static const Section<DataConfig> table({
      value("dataset", &DataConfig::dataset),
      value("dir", &DataConfig::dir, non_empty()),
      value("validation", &DataConfig::validation, at_least(0)),
      value("normalize", &DataConfig::normalize),
      value("spirals_train", &DataConfig::spirals_train, at_least(2)),
      value("spirals_test", &DataConfig::spirals_test, at_least(1)),
      value("spirals_noise", &DataConfig::spirals_noise, non_negative()),
      value("spirals_turns", &DataConfig::spirals_turns, above(0.0)),
  });
  return table;
}

const Section<LayerConfig>& layer_table() {
  static const Section<LayerConfig> table(
      {
          value("type", &LayerConfig::type),
          value("out", &LayerConfig::out, at_least(1)).only_if(layer_is<LayerType::linear>),
          value("in", &LayerConfig::in, at_least(0)).only_if(layer_is<LayerType::linear>),
          value("bias", &LayerConfig::bias).only_if(layer_is<LayerType::linear>),
          value("p", &LayerConfig::p, in_half_open(0.0, 1.0)).only_if(layer_is<LayerType::dropout>),
          value("eps", &LayerConfig::eps, above(0.0)).only_if(layer_is<LayerType::layernorm>),
      },
      check_layer, Section<LayerConfig>::Style::flow);
  return table;
}

const Section<ModelConfig>& model_table() {
  static const Section<ModelConfig> table({
      list("layers", &ModelConfig::layers, layer_table()),
      value("init", &ModelConfig::init, one_of({"kaiming_uniform", "xavier_uniform", "normal"})),
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

const Section<ScheduleConfig>& schedule_table() {
  static const Section<ScheduleConfig> table({
      value("type", &ScheduleConfig::type),
      value("warmup_steps", &ScheduleConfig::warmup_steps, at_least(0)),
      value("min_lr", &ScheduleConfig::min_lr, non_negative()),
  });
  return table;
}

const Section<TrainConfig>& train_table() {
  static const Section<TrainConfig> table({
      value("epochs", &TrainConfig::epochs, at_least(1)),
      value("batch_size", &TrainConfig::batch_size, at_least(1)),
      value("eval_batch_size", &TrainConfig::eval_batch_size, at_least(1)),
      value("precision", &TrainConfig::precision),
      value("deterministic", &TrainConfig::deterministic),
      value("log_every_steps", &TrainConfig::log_every_steps, at_least(1)),
      value("graph", &TrainConfig::graph),
  });
  return table;
}

}  // namespace

const Section<Config>& config_table() {
  static const Section<Config> table(
      {
          value("name", &Config::name, plain_name()),
          value("seed", &Config::seed),
          value("device", &Config::device, device_name()),
          section("data", &Config::data, data_table()),
          section("model", &Config::model, model_table()),
          section("optimizer", &Config::optimizer, optimizer_table()),
          section("lr_schedule", &Config::lr_schedule, schedule_table()),
          section("train", &Config::train, train_table()),
      },
      [](Config& c, const YAML::Node& root, const ReadContext& ctx, const std::string&) {
        check_config(c, root, ctx);
      });
  return table;
}

}  // namespace kasmina::config_detail
