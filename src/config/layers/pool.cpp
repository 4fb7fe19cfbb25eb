// The layers that pool or regroup rows: `maxpool2d` / `avgpool2d` (kernel, stride (0: the
// kernel), padding; read an image, keep its channels), `global_avgpool` (the mean of a sample's
// rows: a feature map's pixels or a transformer's tokens -> one row), `flatten` (a sample's rows
// side by side in one row) and `class_token` (a sample's first row: a transformer's class token).
#include "config/layers/conv2d.hpp"
#include "config/layers/image_input.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

namespace {

LayerSchema pool2d_schema(LayerType type, const char* name) {
  LayerSchema s;
  s.type = type;
  s.make_params = [] { return LayerParams::of(Pool2dConfig{}); };
  s.fields = [] {
    return layer_fields<Pool2dConfig>({
        value("kernel", &Pool2dConfig::kernel, in_range(1, 15)),
        value("stride", &Pool2dConfig::stride, in_range(0, 15)),
        value("padding", &Pool2dConfig::padding, in_range(0, 7)),
    });
  };
  s.reshape = [name](const LayerConfig& entry, const YAML::Node& node, const std::string& path,
                     WidthWalk& walk, const ReadContext& ctx) {
    const Pool2dConfig& p = entry.as<Pool2dConfig>();
    const ImageShape in = require_image(walk, node, path, ctx, name);
    if (2 * p.padding > p.kernel) {
      ctx.fail(locate(node, "padding"), path + ".padding",
               "is " + std::to_string(p.padding) +
                   " but a pooling's padding must be at most "
                   "half its kernel (" +
                   std::to_string(p.kernel) + ")");
    }
    walk.set(SampleShape::pixels(
        window_output(in, p.kernel, p.effective_stride(), p.padding, node, path, ctx)));
  };
  return s;
}

// A layer without keys that maps the sample's shape through `to`.
LayerSchema row_regrouping_schema(LayerType type, SampleShape (*to)(const SampleShape&)) {
  LayerSchema s;
  s.type = type;
  s.fields = [] { return std::vector<Field<LayerConfig>>{}; };
  s.reshape = [to](const LayerConfig&, const YAML::Node&, const std::string&, WidthWalk& walk,
                   const ReadContext&) { walk.set(to(walk.shape())); };
  return s;
}

}  // namespace

LayerSchema maxpool2d_layer_schema() {
  return pool2d_schema(LayerType::maxpool2d, "maxpool2d");
}

LayerSchema avgpool2d_layer_schema() {
  return pool2d_schema(LayerType::avgpool2d, "avgpool2d");
}

LayerSchema global_avgpool_layer_schema() {
  return row_regrouping_schema(LayerType::global_avgpool,
                               [](const SampleShape& in) { return SampleShape(in.width); });
}

LayerSchema flatten_layer_schema() {
  return row_regrouping_schema(LayerType::flatten,
                               [](const SampleShape& in) { return in.flattened(); });
}

LayerSchema class_token_layer_schema() {
  return row_regrouping_schema(LayerType::class_token,
                               [](const SampleShape& in) { return SampleShape(in.width); });
}

}  // namespace kasmina::config_detail
