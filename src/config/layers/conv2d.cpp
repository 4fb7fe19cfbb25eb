// `type: conv2d`: out (required), kernel, stride, padding, groups, bias. Reads an image (NHWC
// pixel rows, or the dataset's flattened image) and produces pixel rows of `out` channels.
#include "config/layers/conv2d.hpp"

#include "config/layers/image_input.hpp"
#include "config/limits.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema conv2d_layer_schema() {
  LayerSchema s;
  s.type = LayerType::conv2d;
  s.make_params = [] { return LayerParams::of(Conv2dConfig{}); };
  s.fields = [] {
    return layer_fields<Conv2dConfig>({
        value("out", &Conv2dConfig::out, bounded(1, config_limits::kMaxWidth)),
        value("kernel", &Conv2dConfig::kernel, in_range(1, 15)),
        value("stride", &Conv2dConfig::stride, in_range(1, 8)),
        value("padding", &Conv2dConfig::padding, in_range(0, 7)),
        value("groups", &Conv2dConfig::groups, bounded(1, config_limits::kMaxWidth)),
        value("bias", &Conv2dConfig::bias),
    });
  };
  s.check = [](LayerConfig& entry, const YAML::Node& node, const ReadContext& ctx,
               const std::string& path) {
    const Conv2dConfig& c = entry.as<Conv2dConfig>();
    if (c.out == 0) ctx.fail(node, path, "a conv2d layer needs 'out' (its output channels, >= 1)");
    if (c.out % c.groups != 0) {
      ctx.fail(locate(node, "groups"), path + ".groups",
               "is " + std::to_string(c.groups) + ", which does not divide out (" +
                   std::to_string(c.out) + ")");
    }
  };
  s.reshape = [](const LayerConfig& entry, const YAML::Node& node, const std::string& path,
                 WidthWalk& walk, const ReadContext& ctx) {
    const Conv2dConfig& c = entry.as<Conv2dConfig>();
    const ImageShape in = require_image(walk, node, path, ctx, "conv2d");
    if (in.c % c.groups != 0) {
      ctx.fail(locate(node, "groups"), path + ".groups",
               "is " + std::to_string(c.groups) + ", which does not divide the " +
                   std::to_string(in.c) + " channels it receives");
    }
    ImageShape out = window_output(in, c.kernel, c.stride, c.padding, node, path, ctx);
    out.c = c.out;
    if (c.out * c.kernel * c.kernel * (in.c / c.groups) > config_limits::kMaxTensorValues)
      ctx.fail(locate(node, "out"), path + ".out", "makes a weight tensor too large");
    walk.set(SampleShape::pixels(out));
  };
  return s;
}

}  // namespace kasmina::config_detail
