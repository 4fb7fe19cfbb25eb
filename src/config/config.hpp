// Typed, validated configuration. src/config/ is the only place that reads YAML: load_config()
// parses a file (plus --set overrides) into these structs, filling every default, and
// to_yaml() writes the resolved configuration back out (printed at start-up, saved with runs).
// Every user mistake is a UserError naming the file, line, key and what is allowed.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/layer_params.hpp"
#include "core/lr_schedule.hpp"
#include "core/sample_shape.hpp"
#include "ir/spec.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina {

enum class DatasetKind { fashion_mnist, spirals };
enum class LayerType {
  linear,
  relu,
  gelu,
  layernorm,
  dropout,
  kasmina,
  residual,
  conv2d,
  batchnorm2d,
  maxpool2d,
  avgpool2d,
  global_avgpool,
  flatten,
  patch_embed,
  attention,
  class_token,
};
enum class ControllerType { none, schedule, heuristic };
enum class OptimizerType { adamw, sgd };
enum class PrecisionMode { fp32, tf32, bf16 };
// Parameter initialisation of the linear layers (model.init; names in enum_names.hpp).
enum class InitScheme { kaiming_uniform, xavier_uniform, normal };

// Training-time augmentation of image datasets, on the device, deterministic from the run's seed
// (data.augment).
struct AugmentConfig {
  int64_t crop_padding = 0;  // random crop from the image zero-padded by this many pixels; 0: none
  bool flip = false;         // horizontal flip with probability 1/2
  bool any() const { return crop_padding > 0 || flip; }
  bool operator==(const AugmentConfig&) const = default;
};

struct DataConfig {
  DatasetKind dataset = DatasetKind::fashion_mnist;
  std::string dir = "/usr/share/datasets/fashion-mnist";  // fashion_mnist only
  int64_t validation = 0;  // samples carved from the training set for validation (0 = none)
  AugmentConfig augment;   // training batches only; image datasets only
  bool normalize = true;   // fashion_mnist: (x/255 - mean) / std with the training-set statistics
  // spirals only: two interleaved spirals in 2-D
  int64_t spirals_train = 2000;
  int64_t spirals_test = 1000;
  double spirals_noise = 0.05;
  double spirals_turns = 1.5;

  bool operator==(const DataConfig&) const = default;
};

// One entry of model.layers: its type, its line and the type's parameters. Each type owns its
// parameter struct (src/config/layers/<type>.hpp, e.g. LinearConfig), its keys, their rules and
// its width (src/config/layers/<type>.cpp, registered in src/config/layer_schemas.cpp); a key of
// another type is an error. layer.as<LinearConfig>() reaches the parameters.
struct LayerConfig {
  // A linear layer with its defaults; LayerConfig(type): a `type` layer with that type's
  // defaults (give another type through the constructor: `type` and `params` go together).
  LayerConfig();
  explicit LayerConfig(LayerType type);

  LayerType type = LayerType::linear;
  int line = 0;        // line in the config file (for messages; not part of the YAML)
  LayerParams params;  // the type's parameter struct (empty for a type without keys)

  template <class T>
  T& as() {
    return params.as<T>();
  }
  template <class T>
  const T& as() const {
    return params.as<T>();
  }

  bool operator==(const LayerConfig&) const = default;
};

// One hand-scheduled germination (top-level `schedule:` list): at training step `step`, seed
// `seed` of the `layer`-th kasmina layer (0-based, in model order) grows `blueprint`.
struct GerminationConfig {
  int64_t step = 0;
  int64_t layer = 0;
  int64_t seed = 0;
  std::string blueprint = morph::kBuiltinBlueprintNames[0];  // residual_mlp
  int line = 0;

  bool operator==(const GerminationConfig&) const = default;
};

// The growth controller (issue: controller, event bus, rollback).
struct ControllerConfig {
  ControllerType type = ControllerType::none;  // none | schedule (the `schedule:` list) | heuristic
  // heuristic: plateau detection on the validation loss, evaluated every `eval_every` steps
  int64_t eval_every = 200;  // steps between validation measurements
  int64_t eval_batches = 4;  // validation batches per measurement
  int64_t patience = 3;      // measurements without improvement = plateau
  double min_delta = 1e-3;   // improvement smaller than this does not count
  int64_t max_active = 2;    // seeds in TRAINING/GRAFTING at once (all layers)
  int64_t max_added_parameters = 100000;
  int64_t embargo_steps = 2000;  // a culled seed may not germinate again for this many steps
  double ucb_c = 1.0;            // exploration constant of the blueprint bandit
  // heuristic: which dormant seed grows: gradient (the chunk's gradient score,
  // nn/gradient_score.hpp) | health (capacity need from the activation statistics)
  std::string seed_choice = "gradient";
  // heuristic: germinations only during the first fraction (0, 1] of the training steps
  double germination_window = 0.5;
  // heuristic: besides a plateau, germinate when the best dormant chunk's gradient score is at
  // least this many times the mean chunk score of its layer (0: on plateaus only). 1.0 (grow as
  // soon as the budgets allow, the best-scored seed first): on Fashion-MNIST (docs/GROWTH.md)
  // as good as a fixed early schedule for width, whole-layer and row seeds, where 1.5 waited
  // for plateaus and lost 0.4-0.5 pt; the same for chunk seeds.
  double grad_trigger_ratio = 1.0;
  // keep/cull of a seed in EVALUATING: its paired gain on the validation loss (per sample, with
  // vs without the seed) must exceed this many standard errors (control/causal_eval.hpp)
  double eval_z = 2.0;
  // emergency rollback
  double spike_factor = 3.0;    // loss > factor x running mean while grafting -> rollback
  int64_t debug_nan_step = -1;  // debug hook: inject a NaN loss at this step (-1 = never)

  bool operator==(const ControllerConfig&) const = default;
};

struct TelemetryConfig {
  bool enabled = true;       // write RUN_DIR/telemetry.h5
  int64_t every_steps = 50;  // per-step metrics cadence (host read)
  bool tensorboard = true;   // write TensorBoard event files to RUN_DIR/tensorboard/

  bool operator==(const TelemetryConfig&) const = default;
};

struct CheckpointConfig {
  int64_t every_steps = 0;   // 0 = not by steps
  int64_t every_epochs = 1;  // 0 = not by epochs
  int64_t keep = 3;          // newest checkpoints kept
  bool at_end = true;

  bool operator==(const CheckpointConfig&) const = default;
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
  ScheduleConfig lr_schedule;               // `lr_schedule:` in YAML
  std::vector<GerminationConfig> schedule;  // `schedule:` germinations by hand
  ControllerConfig controller;
  TrainConfig train;
  TelemetryConfig telemetry;
  CheckpointConfig checkpoint;
  std::vector<ir::GraphSpec> blueprints;  // `blueprints:` (IR, src/config/blueprints.hpp)
  // When layers time their generated kernels: off | on_first_use | exhaustive
  // (ops/blueprint_tuning.hpp, Autotune).
  std::string autotune = "off";
  // The time limit of compiling one IR blueprint's kernels with NVRTC, in seconds (0: none); past
  // it the layer takes the next step of the fallback chain and the compile finishes in the
  // background, for the kernel cache (ops/blueprint_compiler.hpp).
  double compile_limit_s = 30.0;
  // Where the keys checked again once the data is loaded (data.validation, train.batch_size)
  // were set: "FILE:LINE", or "--set key=value"; for messages, not part of the YAML.
  std::map<std::string, std::string> origins;

  bool operator==(const Config&) const = default;
};

// What a dataset presents to the model: input features per sample, number of classes and
// training-set size (before the validation split). Used to check the model's widths.
struct DatasetShape {
  int64_t features = 0;
  int64_t classes = 0;
  int64_t train_samples = 0;
  std::optional<ImageShape> image;  // the samples are images (NHWC), flattened to `features`

  // What the model's first layer receives: one row of `features`, an image when it is one.
  SampleShape input() const { return SampleShape(1, features, image); }
};
DatasetShape dataset_shape(const DataConfig& data);

// The sizes that depend on the data actually loaded (a Fashion-MNIST-shaped directory may hold
// fewer samples than Fashion-MNIST's 60000): data.validation and train.batch_size against the
// `train_samples` of the training file `source`. UserError naming where the key was set.
void check_data_size(const Config& c, int64_t train_samples, const std::string& source);

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
const char* to_string(ControllerType);
const char* to_string(OptimizerType);
const char* to_string(LrScheduleType);
const char* to_string(PrecisionMode);

}  // namespace kasmina
