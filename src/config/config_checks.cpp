#include "config/config_checks.hpp"

#include <algorithm>

#include "config/blueprints.hpp"
#include "config/enum_names.hpp"
#include "config/layer_schemas.hpp"
#include "config/layers/linear.hpp"
#include "config/limits.hpp"
#include "config/morph_names.hpp"
#include "config/rules.hpp"
#include "config/suggest.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::config_detail {

namespace {

// The largest batch times the widest layer bounds every activation the run allocates.
// `widest`: the most values per sample a layer produces (WidthWalk::largest), or the input's.
void check_activation_size(const Config& c, int64_t widest, const YAML::Node& root,
                           const ReadContext& ctx) {
  widest = std::max(widest, dataset_shape(c.data).features);
  const bool eval = c.train.eval_batch_size > c.train.batch_size;
  const int64_t batch = eval ? c.train.eval_batch_size : c.train.batch_size;
  if (batch * widest <= config_limits::kMaxTensorValues) return;
  const char* key = eval ? "eval_batch_size" : "batch_size";
  ctx.fail(locate(root, "train", key), std::string("train.") + key,
           "is " + std::to_string(batch) + ", which with the widest layer (" +
               std::to_string(widest) + " values per sample) makes activations of " +
               std::to_string(batch * widest) + " values (at most " +
               std::to_string(config_limits::kMaxTensorValues) + ")");
}

void check_schedule_floor(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  if (c.lr_schedule.min_lr <= c.optimizer.lr) return;
  ctx.fail(locate(root, "lr_schedule", "min_lr"), "lr_schedule.min_lr",
           "must be <= optimizer.lr (" + number_text(c.optimizer.lr) + "), got " +
               number_text(c.lr_schedule.min_lr));
}

// "2, 4, 5, 10, 20, 25, 50, 100": the seed counts a kasmina layer of `width` accepts.
std::string allowed_seed_counts(int64_t width) {
  std::vector<int64_t> counts;
  for (int64_t d = 1; d <= width / d; ++d) {  // divisor pairs (d, width / d)
    if (width % d != 0) continue;
    for (const int64_t seeds : {d, width / d}) {
      const bool listed = std::find(counts.begin(), counts.end(), seeds) != counts.end();
      if (morph::chunk_supported(width / seeds) && !listed) counts.push_back(seeds);
    }
  }
  std::sort(counts.begin(), counts.end());
  std::string out;
  for (const int64_t seeds : counts) out += (out.empty() ? "" : ", ") + std::to_string(seeds);
  return out;
}

// Walks the layers with the running width (each layer type's schema checks what it receives:
// a declared `in`, a kasmina layer's seeds, a residual block's return to its width), and the
// last layer must be linear and produce one score per class.
int64_t check_model_widths(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  const DatasetShape shape = dataset_shape(c.data);
  const std::string dataset = enum_name(c.data.dataset);
  const std::vector<LayerConfig>& layers = c.model.layers;
  WidthWalk walk;
  walk.source = "the " + dataset + " input has " + std::to_string(shape.features) + " features";
  walk.set(shape.input());
  walk_layer_widths(layers, locate(root, "model", "layers"), "model.layers", walk, ctx);
  if (walk.rows != 1) {
    const std::size_t last = layers.size() - 1;
    ctx.fail(locate(locate(root, "model", "layers"), last), element_path("model.layers", last),
             "the model ends with " + walk.shape().str() +
                 " per sample; it must end with one row of class scores: pool the rows first "
                 "(global_avgpool, class_token or flatten) and end with a linear layer");
  }
  bool any_linear = false;
  for (const LayerRef& ref : all_layers(layers, locate(root, "model", "layers"), "model.layers"))
    any_linear = any_linear || ref.layer->type == LayerType::linear;
  const std::string expected =
      "the model must end with a linear layer with out: " + std::to_string(shape.classes) +
      " (one score per " + dataset + " class)";
  if (!any_linear) {
    ctx.fail(locate(root, "model", "layers"), "model.layers",
             "needs at least one linear layer; " + expected);
  }
  const std::size_t last = layers.size() - 1;
  const std::string last_path = element_path("model.layers", last);
  if (layers[last].type != LayerType::linear) {
    ctx.fail(locate(root, "model", "layers", last), last_path,
             std::string("is a ") + enum_name(layers[last].type) + " layer; " + expected);
  }
  const int64_t out = layers[last].as<LinearConfig>().out;
  if (out != shape.classes) {
    ctx.fail(locate(root, "model", "layers", last, "out"), last_path + ".out",
             "is " + std::to_string(out) + " but " + expected);
  }
  return walk.largest;
}

// data.augment crops and flips images: the dataset must be one.
void check_augment(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  if (!c.data.augment.any() || dataset_shape(c.data).image) return;
  ctx.fail(locate(root, "data", "augment"), "data.augment",
           std::string("crops and flips images, but the ") + enum_name(c.data.dataset) +
               " samples are not images (allowed: augment with fashion_mnist, or remove it)");
}

// Width seeds (linear grow_from): the next linear layer holds the new units' outgoing weights,
// and only layers whose output is 0 at 0 may lie between (relu, gelu, dropout); top level only.
void check_width_seeds(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  const std::vector<LayerConfig>& layers = c.model.layers;
  const YAML::Node list = locate(root, "model", "layers");
  for (const LayerRef& ref : all_layers(layers, list, "model.layers")) {
    const bool grows =
        ref.layer->type == LayerType::linear && ref.layer->as<LinearConfig>().grow_from > 0;
    const bool top = std::any_of(layers.begin(), layers.end(),
                                 [&](const LayerConfig& l) { return &l == ref.layer; });
    if (grows && !top)
      ctx.fail(locate(ref.node, "grow_from"), ref.path + ".grow_from",
               "is set inside a residual block (allowed: width seeds on top-level linear layers)");
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].type != LayerType::linear || layers[i].as<LinearConfig>().grow_from == 0)
      continue;
    if (layers[i].as<LinearConfig>().grow_schedule == "controller" &&
        c.controller.type != ControllerType::heuristic)
      ctx.fail(locate(list, i, "grow_schedule"), element_path("model.layers", i) + ".grow_schedule",
               std::string("is controller, but controller.type is ") +
                   enum_name(c.controller.type) +
                   " (allowed: controller with controller.type heuristic, or fixed)");
    std::size_t j = i + 1;
    while (j < layers.size() &&
           (layers[j].type == LayerType::relu || layers[j].type == LayerType::gelu ||
            layers[j].type == LayerType::dropout))
      ++j;
    if (j < layers.size() && layers[j].type == LayerType::linear) continue;
    const std::string path = element_path("model.layers", i);
    ctx.fail(locate(list, i, "grow_from"), path + ".grow_from",
             std::string("needs a linear layer after it (the new units' outgoing weights) with "
                         "only relu, gelu or dropout between; ") +
                 (j < layers.size() ? element_path("model.layers", j) + " is a " +
                                          enum_name(layers[j].type) + " layer"
                                    : "nothing follows it"));
  }
}

// The kasmina layers in model order (schedule entries count them), blocks included.
std::vector<LayerRef> kasmina_layers(const ModelConfig& model, const YAML::Node& root) {
  std::vector<LayerRef> out;
  for (LayerRef& ref : all_layers(model.layers, locate(root, "model", "layers"), "model.layers"))
    if (ref.layer->type == LayerType::kasmina) out.push_back(std::move(ref));
  return out;
}

// Each germination must name an existing kasmina layer, one of its seeds and one of its
// blueprints.
void check_germinations(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  const std::vector<LayerRef> kasmina = kasmina_layers(c.model, root);
  const auto count = static_cast<int64_t>(kasmina.size());
  for (std::size_t j = 0; j < c.schedule.size(); ++j) {
    const GerminationConfig& entry = c.schedule[j];
    const std::string path = element_path("schedule", j);
    if (entry.layer >= count) {
      const std::string has = count == 0
                                  ? "the model has no kasmina layer (add one to model.layers, e.g. "
                                    "{type: kasmina, seeds: 8})"
                                  : "the model has " + std::to_string(count) + " kasmina layer" +
                                        (count == 1 ? "" : "s") + " (allowed: 0.." +
                                        std::to_string(count - 1) + ", counted in model order)";
      ctx.fail(locate(root, "schedule", j, "layer"), path + ".layer",
               "is " + std::to_string(entry.layer) + " but " + has);
    }
    const LayerRef& ref = kasmina[static_cast<std::size_t>(entry.layer)];
    const KasminaConfig& layer = ref.layer->as<KasminaConfig>();
    const std::string layer_text =
        "kasmina layer " + std::to_string(entry.layer) + " (" + ref.path + ")";
    if (entry.seed >= layer.seeds) {
      ctx.fail(locate(root, "schedule", j, "seed"), path + ".seed",
               "is " + std::to_string(entry.seed) + " but " + layer_text + " has " +
                   std::to_string(layer.seeds) + " seeds (allowed: 0.." +
                   std::to_string(layer.seeds - 1) + ")");
    }
    if (std::find(layer.blueprints.begin(), layer.blueprints.end(), entry.blueprint) ==
        layer.blueprints.end()) {
      ctx.fail(locate(root, "schedule", j, "blueprint"), path + ".blueprint",
               "'" + entry.blueprint + "' is not one of the blueprints of " + layer_text +
                   " (allowed: " + join(layer.blueprints) + ")");
    }
  }
}

// The controller runs the schedule (type schedule) or decides on its own from the validation
// loss (type heuristic).
void check_controller(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  const ControllerType type = c.controller.type;
  if (type == ControllerType::none && !c.schedule.empty()) {
    const std::size_t n = c.schedule.size();
    ctx.fail(locate(root, "schedule"), "schedule",
             "has " + std::to_string(n) + " germination" + (n == 1 ? "" : "s") +
                 " but controller.type is none, which runs no schedule (set controller.type: "
                 "schedule)");
  }
  if (type == ControllerType::schedule && c.schedule.empty()) {
    ctx.fail(locate(root, "controller", "type"), "controller.type",
             "is schedule but the 'schedule' list is empty (add germinations such as "
             "{step: 100, layer: 0, seed: 0, blueprint: residual_mlp}, or use none or heuristic)");
  }
  if (type == ControllerType::heuristic && c.data.validation == 0) {
    ctx.fail(locate(root, "controller", "type"), "controller.type",
             "is heuristic, which needs a validation split: set data.validation > 0 (its "
             "decisions must not use the test split)");
  }
  if (c.controller.germination_window > 1.0) {
    ctx.fail(locate(root, "controller", "germination_window"), "controller.germination_window",
             "must be in (0, 1] (the fraction of the training steps in which seeds may "
             "germinate), got " +
                 number_text(c.controller.germination_window));
  }
}

}  // namespace

// A kasmina layer keeps the width it receives and splits it into `seeds` chunks of equal size,
// each a width the kernels handle (morph::chunk_supported, src/morph/morph_limits.hpp).
void check_kasmina_seeds(const KasminaConfig& layer, int64_t width, const YAML::Node& node,
                         const std::string& path, const ReadContext& ctx) {
  const bool divides = width % layer.seeds == 0;
  if (divides && morph::chunk_supported(width / layer.seeds)) return;
  const std::string w = std::to_string(width);
  const std::string allowed = "(allowed: the divisors of " + w + " with " + w + "/seeds " +
                              morph::kChunkRuleText + ": " + allowed_seed_counts(width) + ")";
  const std::string problem =
      divides ? "gives chunks of " + std::to_string(width / layer.seeds) +
                    " values; the kernels handle chunks " + morph::kChunkRuleText
              : "does not divide the width " + w + " that the layer receives";
  ctx.fail(locate(node, "seeds"), path + ".seeds",
           "is " + std::to_string(layer.seeds) + ", which " + problem + " " + allowed);
}

void check_renamed_keys(const YAML::Node& root, const ReadContext& ctx) {
  const YAML::Node schedule = locate(root, "schedule");
  if (schedule.is(root) || !schedule.IsMap()) return;
  ctx.fail(schedule, "schedule",
           "expected a list of germinations {step, layer, seed, blueprint}, got a mapping (the "
           "learning-rate schedule is now 'lr_schedule')");
}

void check_config(Config& c, const YAML::Node& root, const ReadContext& ctx) {
  check_training_set(c, root, ctx);
  check_schedule_floor(c, root, ctx);
  check_augment(c, root, ctx);
  const int64_t largest = check_model_widths(c, root, ctx);
  check_width_seeds(c, root, ctx);
  check_activation_size(c, largest, root, ctx);
  check_germinations(c, root, ctx);
  check_controller(c, root, ctx);
}

void check_germination(GerminationConfig& entry, const YAML::Node& node, const ReadContext&,
                       const std::string&) {
  entry.line = node.IsDefined() ? node.Mark().line + 1 : 0;
}

}  // namespace kasmina::config_detail
