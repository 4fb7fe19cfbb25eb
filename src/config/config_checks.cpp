#include "config/config_checks.hpp"

#include "config/enum_names.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

namespace {

void check_validation_split(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  const DatasetShape shape = dataset_shape(c.data);
  if (c.data.validation < shape.train_samples) return;
  ctx.fail(locate(root, "data", "validation"), "data.validation",
           "must be in [0, " + std::to_string(shape.train_samples) + ") (the " +
               enum_name(c.data.dataset) + " training set has " +
               std::to_string(shape.train_samples) + " samples), got " +
               std::to_string(c.data.validation));
}

void check_schedule_floor(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  if (c.lr_schedule.min_lr <= c.optimizer.lr) return;
  ctx.fail(locate(root, "lr_schedule", "min_lr"), "lr_schedule.min_lr",
           "must be <= optimizer.lr (" + number_text(c.optimizer.lr) + "), got " +
               number_text(c.lr_schedule.min_lr));
}

// Walks the layers with the running width: a declared `in` must match it, and the last layer
// must be linear and produce one score per class.
void check_model_widths(const Config& c, const YAML::Node& root, const ReadContext& ctx) {
  const DatasetShape shape = dataset_shape(c.data);
  const std::string dataset = enum_name(c.data.dataset);
  const std::vector<LayerConfig>& layers = c.model.layers;
  int64_t width = shape.features;
  bool any_linear = false;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerConfig& layer = layers[i];
    if (layer.type != LayerType::linear) continue;
    const bool first_linear = !any_linear;
    any_linear = true;
    if (layer.in != 0 && layer.in != width) {
      const std::string source =
          first_linear ? "the " + dataset + " input has " + std::to_string(width) + " features"
                       : "the previous layer produces " + std::to_string(width);
      ctx.fail(locate(root, "model", "layers", i, "in"), element_path("model.layers", i) + ".in",
               "is " + std::to_string(layer.in) + " but " + source);
    }
    width = layer.out;
  }
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
  if (layers[last].out != shape.classes) {
    ctx.fail(locate(root, "model", "layers", last, "out"), last_path + ".out",
             "is " + std::to_string(layers[last].out) + " but " + expected);
  }
}

}  // namespace

void check_config(Config& c, const YAML::Node& root, const ReadContext& ctx) {
  check_validation_split(c, root, ctx);
  check_schedule_floor(c, root, ctx);
  check_model_widths(c, root, ctx);
}

void check_layer(LayerConfig& layer, const YAML::Node& node, const ReadContext& ctx,
                 const std::string& path) {
  layer.line = node.IsDefined() ? node.Mark().line + 1 : 0;
  if (layer.type == LayerType::linear && layer.out == 0) {
    ctx.fail(node, path, "a linear layer needs 'out' (its output width, >= 1)");
  }
}

}  // namespace kasmina::config_detail
