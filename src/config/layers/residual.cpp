// `type: residual`: a block whose output is its input plus the output of its `layers` (a list
// of model.layers entries, blocks included), which must return to the block's width.
#include "config/layers/residual.hpp"

#include "config/layer_schemas.hpp"

namespace kasmina::config_detail {

namespace {

// The shape of the nested list; its element (the layer table's shape) is linked by
// layer_table() once that table exists (the schema is recursive).
std::shared_ptr<Shape> nested_layers_shape() {
  static const auto shape = [] {
    auto s = std::make_shared<Shape>();
    s->kind = Shape::Kind::list;
    return s;
  }();
  return shape;
}

// A list of layers (`layers:`, `shortcut:`) read and written with the table of model.layers
// entries.
Field<LayerConfig> nested_list(const char* name, std::vector<LayerConfig> ResidualConfig::*list) {
  Field<LayerConfig> f;
  f.name = name;
  f.shape = nested_layers_shape();
  f.read = [list](LayerConfig& s, const YAML::Node& node, const ReadContext& ctx,
                  const std::string& path) {
    std::vector<LayerConfig> items;
    for_each_element(node, ctx, path, [&](const YAML::Node& element, const std::string& key) {
      LayerConfig item{};
      layer_table().read(item, element, ctx, key);
      items.push_back(std::move(item));
    });
    s.as<ResidualConfig>().*list = std::move(items);
  };
  f.write = [list](const LayerConfig& s, YAML::Emitter& out) {
    out << YAML::BeginSeq;
    for (const LayerConfig& item : s.as<ResidualConfig>().*list) layer_table().write(item, out);
    out << YAML::EndSeq;
  };
  return f;
}

// What a shape is called in messages: a width for one row of features, else its full form.
std::string shape_text(const SampleShape& s) {
  return s.rows == 1 && !s.image ? std::to_string(s.width) : s.str();
}

}  // namespace

void link_nested_layers_shape(std::shared_ptr<const Shape> layer_shape) {
  nested_layers_shape()->element = std::move(layer_shape);
}

LayerSchema residual_layer_schema() {
  LayerSchema s;
  s.type = LayerType::residual;
  s.make_params = [] { return LayerParams::of(ResidualConfig{}); };
  s.fields = [] {
    return std::vector<Field<LayerConfig>>{nested_list("layers", &ResidualConfig::layers),
                                           nested_list("shortcut", &ResidualConfig::shortcut)};
  };
  s.check = [](LayerConfig& layer, const YAML::Node& node, const ReadContext& ctx,
               const std::string& path) {
    if (!layer.as<ResidualConfig>().layers.empty()) return;
    ctx.fail(node, path,
             "a residual block needs 'layers' (a non-empty list of layers whose widths return "
             "to the block's width, e.g. [{type: linear, out: 64}, {type: relu}, {type: linear, "
             "out: W}])");
  };
  s.reshape = [](const LayerConfig& entry, const YAML::Node& node, const std::string& path,
                 WidthWalk& walk, const ReadContext& ctx) {
    const ResidualConfig& layer = entry.as<ResidualConfig>();
    WidthWalk body = walk;
    const YAML::Node list = locate(node, "layers");
    walk_layer_widths(layer.layers, list, path + ".layers", body, ctx);
    WidthWalk skip = walk;
    if (!layer.shortcut.empty())
      walk_layer_widths(layer.shortcut, locate(node, "shortcut"), path + ".shortcut", skip, ctx);
    if (body.shape() != skip.shape()) {
      const std::size_t last = layer.layers.size() - 1;
      const bool plain = walk.rows == 1 && !walk.image;
      const std::string what =
          layer.shortcut.empty()
              ? "the residual block " + path + " receives " + shape_text(walk.shape()) +
                    ": its layers must return to that " + (plain ? "width" : "shape") +
                    " (the block adds its input to their output, or needs a 'shortcut' that "
                    "produces their shape)"
              : "its shortcut produces " + shape_text(skip.shape()) +
                    ": the block adds the two, so they must match";
      ctx.fail(locate(list, last), element_path(path + ".layers", last),
               "produces " + shape_text(body.shape()) + " but " + what);
    }
    walk.set(body.shape());
  };
  s.nested = [](const LayerConfig& layer) {
    const ResidualConfig& r = layer.as<ResidualConfig>();
    return std::vector<std::pair<std::string, const std::vector<LayerConfig>*>>{
        {"layers", &r.layers}, {"shortcut", &r.shortcut}};
  };
  return s;
}

}  // namespace kasmina::config_detail

namespace kasmina {

bool contains_layer_type(const std::vector<LayerConfig>& layers, LayerType t) {
  for (const LayerConfig& l : layers) {
    if (l.type == t) return true;
    if (l.type == LayerType::residual && (contains_layer_type(l.as<ResidualConfig>().layers, t) ||
                                          contains_layer_type(l.as<ResidualConfig>().shortcut, t)))
      return true;
  }
  return false;
}

}  // namespace kasmina
