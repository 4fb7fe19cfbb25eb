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

// `layers:` read and written with the table of model.layers entries.
Field<LayerConfig> nested_layers() {
  Field<LayerConfig> f;
  f.name = "layers";
  f.shape = nested_layers_shape();
  f.read = [](LayerConfig& s, const YAML::Node& node, const ReadContext& ctx,
              const std::string& path) {
    std::vector<LayerConfig> items;
    for_each_element(node, ctx, path, [&](const YAML::Node& element, const std::string& key) {
      LayerConfig item{};
      layer_table().read(item, element, ctx, key);
      items.push_back(std::move(item));
    });
    s.as<ResidualConfig>().layers = std::move(items);
  };
  f.write = [](const LayerConfig& s, YAML::Emitter& out) {
    out << YAML::BeginSeq;
    for (const LayerConfig& item : s.as<ResidualConfig>().layers) layer_table().write(item, out);
    out << YAML::EndSeq;
  };
  return f;
}

}  // namespace

void link_nested_layers_shape(std::shared_ptr<const Shape> layer_shape) {
  nested_layers_shape()->element = std::move(layer_shape);
}

LayerSchema residual_layer_schema() {
  LayerSchema s;
  s.type = LayerType::residual;
  s.make_params = [] { return LayerParams::of(ResidualConfig{}); };
  s.fields = [] { return std::vector<Field<LayerConfig>>{nested_layers()}; };
  s.check = [](LayerConfig& layer, const YAML::Node& node, const ReadContext& ctx,
               const std::string& path) {
    if (!layer.as<ResidualConfig>().layers.empty()) return;
    ctx.fail(node, path,
             "a residual block needs 'layers' (a non-empty list of layers whose widths return "
             "to the block's width, e.g. [{type: linear, out: 64}, {type: relu}, {type: linear, "
             "out: W}])");
  };
  s.out_width = [](const LayerConfig& entry, const YAML::Node& node, const std::string& path,
                   const WidthWalk& walk, const ReadContext& ctx) {
    const ResidualConfig& layer = entry.as<ResidualConfig>();
    WidthWalk inner = walk;
    const std::string list_path = path + ".layers";
    const YAML::Node list = locate(node, "layers");
    walk_layer_widths(layer.layers, list, list_path, inner, ctx);
    if (inner.width != walk.width) {
      const std::size_t last = layer.layers.size() - 1;
      ctx.fail(locate(list, last), element_path(list_path, last),
               "produces " + std::to_string(inner.width) + " but the residual block " + path +
                   " receives " + std::to_string(walk.width) +
                   ": its layers must return to that width (the block adds its input to their "
                   "output)");
    }
    return walk.width;
  };
  s.nested = [](const LayerConfig& layer) -> const std::vector<LayerConfig>& {
    return layer.as<ResidualConfig>().layers;
  };
  return s;
}

}  // namespace kasmina::config_detail
