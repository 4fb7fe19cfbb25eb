// to_yaml() writes every key; parse_config(to_yaml(c)) gives back c.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::expect_round_trip;

TEST(ConfigRoundTrip, MinimalConfig) {
  expect_round_trip(parse_config(testing::kMinimalYaml, "tiny.yaml"));
}

TEST(ConfigRoundTrip, EveryKeyIsWritten) {
  const Config c = parse_config(
      "model:\n  layers: [{type: layernorm}, {type: dropout}, {type: linear, out: 10}]\n"
      "optimizer: {type: adamw}\n",
      "every.yaml");
  const YAML::Node root = YAML::Load(to_yaml(c));
  const std::vector<std::string> top = {"name",       "seed",      "device",      "data",
                                        "model",      "optimizer", "lr_schedule", "schedule",
                                        "controller", "train",     "telemetry",   "checkpoint"};
  for (const std::string& key : top) EXPECT_TRUE(root[key].IsDefined()) << key;
  for (const char* key : {"dataset", "dir", "validation", "normalize", "spirals_train",
                          "spirals_test", "spirals_noise", "spirals_turns"}) {
    EXPECT_TRUE(root["data"][key].IsDefined()) << key;
  }
  EXPECT_TRUE(root["model"]["init"].IsDefined());
  for (const char* key :
       {"type", "lr", "weight_decay", "beta1", "beta2", "eps", "momentum", "nesterov"}) {
    EXPECT_TRUE(root["optimizer"][key].IsDefined()) << key;
  }
  for (const char* key : {"type", "warmup_steps", "min_lr"}) {
    EXPECT_TRUE(root["lr_schedule"][key].IsDefined()) << key;
  }
  for (const char* key : {"epochs", "batch_size", "eval_batch_size", "precision", "deterministic",
                          "log_every_steps", "graph"}) {
    EXPECT_TRUE(root["train"][key].IsDefined()) << key;
  }
  const YAML::Node layers = root["model"]["layers"];
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0]["type"].as<std::string>(), "layernorm");
  EXPECT_TRUE(layers[0]["eps"].IsDefined());
  EXPECT_FALSE(layers[0]["out"].IsDefined());  // only the keys of a layer's own type
  EXPECT_EQ(layers[1]["p"].Scalar(), "0.1");
  for (const char* key : {"type", "out", "in", "bias"}) {
    EXPECT_TRUE(layers[2][key].IsDefined()) << key;
  }
  // Reals always carry a '.', so YAML 1.1 readers see floats too.
  EXPECT_EQ(root["optimizer"]["eps"].Scalar(), "1.0e-08");
  EXPECT_EQ(root["lr_schedule"]["min_lr"].Scalar(), "0.0");
  EXPECT_EQ(root["optimizer"]["lr"].Scalar(), "0.001");
  EXPECT_EQ(root["name"].Scalar(), "every");
}

// A random valid kasmina layer for the running width `width`.
LayerConfig random_kasmina_layer(std::mt19937_64& rng, int64_t width) {
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<>(lo, hi)(rng);
  };
  auto integer = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::vector<int64_t> seed_counts;  // divisors with chunks the kernels handle
  for (int64_t s = 1; s <= width; ++s) {
    if (width % s == 0 && morph::chunk_supported(width / s)) seed_counts.push_back(s);
  }
  LayerConfig entry(LayerType::kasmina);
  KasminaConfig& k = entry.as<KasminaConfig>();
  k.seeds = seed_counts[static_cast<std::size_t>(integer(0, std::ssize(seed_counts) - 1))];
  std::vector<std::string> names = {"residual_mlp", "low_rank", "diag_scale"};
  std::shuffle(names.begin(), names.end(), rng);
  names.resize(static_cast<std::size_t>(integer(1, 3)));
  k.blueprints = names;
  k.hidden = integer(1, 32);
  k.rank = integer(1, 32);
  const char* strategies[] = {"fixed_ramp", "performance_linked", "drift_controlled",
                              "grad_norm_gated"};
  k.grafting = strategies[integer(0, 3)];
  k.ramp_steps = integer(1, 1000);
  k.performance_gain = uniform(0.0, 50.0);
  k.drift_threshold = uniform(1e-3, 1.0);
  k.grad_norm_lo = uniform(0.0, 1.0);
  k.grad_norm_hi = k.grad_norm_lo + uniform(0.0, 20.0);
  k.min_germinated_steps = integer(0, 10);
  k.min_training_steps = integer(0, 200);
  k.min_grafting_steps = integer(0, 10);
  k.min_stabilization_steps = integer(0, 100);
  k.min_evaluating_steps = integer(0, 100);
  k.min_fine_tuning_steps = integer(0, 100);
  k.training_loss_threshold = uniform(1e-6, 1e-1);
  k.training_objective = integer(0, 1) ? "task_gradient" : "reconstruction";
  k.training_gain_threshold = uniform(0.0, 1.0);
  k.training_gain_z = uniform(0.0, 4.0);
  k.max_training_steps = integer(1, 5000);
  k.max_evaluating_steps = integer(1, 5000);
  k.max_training_seeds = integer(1, 64);
  k.ema_decay = uniform(0.0, 0.999);
  k.max_errors = integer(1, 10);
  k.blueprint_lr = uniform(1e-6, 1e-1);
  k.blueprint_weight_decay = uniform(0.0, 0.1);
  k.pool_slots = integer(1, 256);
  k.telemetry_every = integer(1, 1000);
  k.dead_eps = uniform(0.0, 1e-3);
  return entry;
}

// A random germination schedule over the model's kasmina layers and a controller that fits it.
void add_random_growth(std::mt19937_64& rng, Config& c) {
  auto integer = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::vector<const LayerConfig*> kasmina;
  for (const LayerConfig& layer : c.model.layers) {
    if (layer.type == LayerType::kasmina) kasmina.push_back(&layer);
  }
  const int64_t entries = kasmina.empty() ? 0 : integer(0, 4);
  for (int64_t i = 0; i < entries; ++i) {
    GerminationConfig g;
    g.step = integer(0, 100000);
    g.layer = integer(0, std::ssize(kasmina) - 1);
    const KasminaConfig& layer = kasmina[static_cast<std::size_t>(g.layer)]->as<KasminaConfig>();
    g.seed = integer(0, layer.seeds - 1);
    g.blueprint =
        layer.blueprints[static_cast<std::size_t>(integer(0, std::ssize(layer.blueprints) - 1))];
    c.schedule.push_back(g);
  }
  const bool can_heuristic = c.data.validation > 0 && integer(0, 1) == 1;
  c.controller.type = can_heuristic        ? ControllerType::heuristic
                      : c.schedule.empty() ? ControllerType::none
                                           : ControllerType::schedule;
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<>(lo, hi)(rng);
  };
  c.controller.eval_every = integer(1, 1000);
  c.controller.eval_batches = integer(1, 16);
  c.controller.patience = integer(1, 10);
  c.controller.min_delta = uniform(0.0, 0.1);
  c.controller.max_active = integer(1, 8);
  c.controller.max_added_parameters = integer(0, 1000000);
  c.controller.embargo_steps = integer(0, 10000);
  c.controller.ucb_c = uniform(0.0, 3.0);
  c.controller.seed_choice = integer(0, 1) ? "gradient" : "health";
  c.controller.germination_window = uniform(0.01, 1.0);
  c.controller.grad_trigger_ratio = uniform(0.0, 3.0);
  c.controller.spike_factor = uniform(1.01, 10.0);
  c.controller.debug_nan_step = integer(-1, 1000);
}

// A random valid config: every field drawn from its allowed range.
Config random_config(std::mt19937_64& rng) {
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<>(lo, hi)(rng);
  };
  auto integer = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto coin = [&] { return integer(0, 1) == 1; };
  Config c;
  c.name = "run_" + std::to_string(integer(0, 1 << 20));
  c.seed = rng();
  c.device = coin() ? "cpu" : "cuda:" + std::to_string(integer(0, 7));
  c.data.dataset = coin() ? DatasetKind::spirals : DatasetKind::fashion_mnist;
  c.data.dir = "/data/set " + std::to_string(integer(0, 99)) + ": \"quoted\"";
  c.data.normalize = coin();
  c.data.spirals_train = integer(2, 5000);
  c.data.spirals_test = integer(1, 5000);
  c.data.spirals_noise = uniform(0.0, 0.5);
  c.data.spirals_turns = uniform(0.1, 4.0);
  c.data.validation = integer(0, dataset_shape(c.data).train_samples - 1);
  const DatasetShape shape = dataset_shape(c.data);
  const int hidden = static_cast<int>(integer(0, 4));
  int64_t width = shape.features;
  for (int i = 0; i <= hidden; ++i) {
    LayerConfig linear(LayerType::linear);
    LinearConfig& lin = linear.as<LinearConfig>();
    lin.out = i == hidden ? shape.classes : integer(1, 1024);
    lin.bias = coin();
    lin.in = coin() ? width : 0;  // declared or inferred
    width = lin.out;
    c.model.layers.push_back(linear);
    if (i == hidden) break;
    LayerConfig extra(static_cast<LayerType>(integer(1, 5)));
    if (extra.type == LayerType::dropout) extra.as<DropoutConfig>().p = uniform(0.0, 0.9);
    if (extra.type == LayerType::layernorm) extra.as<LayerNormConfig>().eps = uniform(1e-7, 1e-3);
    if (extra.type == LayerType::kasmina) extra = random_kasmina_layer(rng, width);
    c.model.layers.push_back(extra);
    if (integer(0, 3) != 0) continue;
    // A residual block that returns to the width: linear, relu, linear (declared in or not).
    LayerConfig block(LayerType::residual);
    LayerConfig up(LayerType::linear), down(LayerType::linear);
    const LayerConfig act(coin() ? LayerType::relu : LayerType::gelu);
    up.as<LinearConfig>().out = integer(1, 512);
    up.as<LinearConfig>().bias = coin();
    down.as<LinearConfig>().out = width;
    down.as<LinearConfig>().in = coin() ? up.as<LinearConfig>().out : 0;
    block.as<ResidualConfig>().layers = {up, act, down};
    c.model.layers.push_back(block);
  }
  const char* inits[] = {"kaiming_uniform", "xavier_uniform", "normal"};
  c.model.init = inits[integer(0, 2)];
  c.optimizer.type = coin() ? OptimizerType::sgd : OptimizerType::adamw;
  c.optimizer.lr = uniform(1e-6, 1.0);
  c.optimizer.weight_decay = uniform(0.0, 0.1);
  c.optimizer.beta1 = uniform(0.0, 0.99);
  c.optimizer.beta2 = uniform(0.9, 0.9999);
  c.optimizer.eps = uniform(1e-12, 1e-6);
  c.optimizer.momentum = uniform(0.0, 0.99);
  c.optimizer.nesterov = coin();
  c.lr_schedule.type = static_cast<LrScheduleType>(integer(0, 2));
  c.lr_schedule.warmup_steps = integer(0, 1000);
  c.lr_schedule.min_lr = uniform(0.0, c.optimizer.lr);
  c.train.epochs = integer(1, 100);
  const int64_t n_train = dataset_shape(c.data).train_samples - c.data.validation;
  c.train.batch_size = integer(1, std::min<int64_t>(4096, n_train));
  c.train.eval_batch_size = integer(1, 4096);
  c.train.precision = coin() ? PrecisionMode::tf32 : PrecisionMode::fp32;
  c.train.deterministic = coin();
  c.train.log_every_steps = integer(1, 500);
  c.train.graph = coin();
  add_random_growth(rng, c);
  c.telemetry.enabled = coin();
  c.telemetry.every_steps = integer(1, 1000);
  c.checkpoint.every_steps = integer(0, 5000);
  c.checkpoint.every_epochs = integer(0, 10);
  c.checkpoint.keep = integer(1, 20);
  c.checkpoint.at_end = coin();
  return c;
}

TEST(ConfigRoundTrip, RandomConfigs) {
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 200; ++i) {
    const Config c = random_config(rng);
    SCOPED_TRACE("config " + std::to_string(i));
    expect_round_trip(c);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace kasmina
