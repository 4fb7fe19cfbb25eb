// Typed, validated configuration. src/config/ is the only place that reads YAML: load_config()
// parses a file (plus --set overrides) into these structs, filling every default, and
// to_yaml() writes the resolved configuration back out (printed at start-up, saved with runs).
// Every user mistake is a UserError naming the file, line, key and what is allowed.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nn/lr_schedule.hpp"

namespace kasmina {

enum class DatasetKind { fashion_mnist, spirals };
enum class LayerType { linear, relu, gelu, layernorm, dropout };
enum class OptimizerType { adamw, sgd };
enum class PrecisionMode { fp32, tf32 };

struct DataConfig {
  DatasetKind dataset = DatasetKind::fashion_mnist;
  std::string dir = "/usr/share/datasets/fashion-mnist";  // fashion_mnist only
  int64_t validation = 0;  // samples carved from the training set for validation (0 = none)
  bool normalize = true;   // fashion_mnist: (x/255 - mean) / std with the training-set statistics
  // spirals only: two interleaved spirals in 2-D
  int64_t spirals_train = 2000;
  int64_t spirals_test = 1000;
  double spirals_noise = 0.05;
  double spirals_turns = 1.5;

  bool operator==(const DataConfig&) const = default;
};

struct LayerConfig {
  LayerType type = LayerType::linear;
  int64_t out = 0;    // linear: output width
  int64_t in = 0;     // linear: optional declared input width (0 = inferred); checked
  bool bias = true;   // linear
  double p = 0.1;     // dropout probability
  double eps = 1e-5;  // layernorm epsilon
  int line = 0;       // line in the config file (for messages; not part of the YAML)

  bool operator==(const LayerConfig&) const = default;
};

struct ModelConfig {
  std::vector<LayerConfig> layers;
  // kaiming_uniform (PyTorch's Linear default) | xavier_uniform | normal
  std::string init = "kaiming_uniform";

  bool operator==(const ModelConfig&) const = default;
};

struct OptimizerConfig {
  OptimizerType type = OptimizerType::adamw;
  double lr = 1e-3;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adamw
  double momentum = 0.9;                          // sgd
  bool nesterov = false;                          // sgd

  bool operator==(const OptimizerConfig&) const = default;
};

struct ScheduleConfig {
  LrScheduleType type = LrScheduleType::constant;
  int64_t warmup_steps = 0;
  double min_lr = 0.0;

  bool operator==(const ScheduleConfig&) const = default;
};

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 1000;
  PrecisionMode precision = PrecisionMode::fp32;
  bool deterministic = true;
  int64_t log_every_steps = 50;  // progress refresh cadence (the only per-step host read)
  bool graph = true;             // capture the step in a CUDA graph (CUDA only)

  bool operator==(const TrainConfig&) const = default;
};

struct Config {
  std::string name;         // defaults to the config file's stem
  std::string source_path;  // file the config was read from
  uint64_t seed = 1;
  std::string device = "cpu";  // cpu | cuda | cuda:N
  DataConfig data;
  ModelConfig model;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  TrainConfig train;

  bool operator==(const Config&) const = default;
};

// What a dataset presents to the model: input features per sample, number of classes and
// training-set size (before the validation split). Used to check the model's widths.
struct DatasetShape {
  int64_t features = 0;
  int64_t classes = 0;
  int64_t train_samples = 0;
};
DatasetShape dataset_shape(const DataConfig& data);

struct Overrides {
  std::vector<std::string> sets;  // "key.path=value" from --set, applied in order
};

// "key.path=VALUE" with VALUE quoted as a YAML string, for overrides built from text that must
// stay a string whatever it contains (a directory such as "~", "#1" or "a: b"):
// Overrides::sets.push_back(string_override("data.dir", dir)).
std::string string_override(const std::string& key_path, const std::string& value);

// Reads and validates a config; applies --set overrides before validation.
// Throws UserError (file:line: key: message) on any problem.
Config load_config(const std::string& path, const Overrides& overrides = {});
// Same, from YAML text (path is used in messages only).
Config parse_config(const std::string& yaml_text, const std::string& path,
                    const Overrides& overrides = {});
// The resolved configuration as YAML with every default filled in; parse_config(to_yaml(c))
// gives back c.
std::string to_yaml(const Config& c);

// Names for messages and the resolved YAML.
const char* to_string(DatasetKind);
const char* to_string(LayerType);
const char* to_string(OptimizerType);
const char* to_string(LrScheduleType);
const char* to_string(PrecisionMode);

}  // namespace kasmina
