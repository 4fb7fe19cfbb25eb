// `type: linear`: out (required), in (optional, checked against the width it receives), bias.
#include "config/layers/linear.hpp"

#include "config/layer_schemas.hpp"
#include "config/limits.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema linear_layer_schema() {
  LayerSchema s;
  s.type = LayerType::linear;
  s.make_params = [] { return LayerParams::of(LinearConfig{}); };
  s.fields = [] {
    return layer_fields<LinearConfig>({
        value("out", &LinearConfig::out, bounded(1, config_limits::kMaxWidth)),
        value("in", &LinearConfig::in, bounded(0, config_limits::kMaxWidth)),
        value("bias", &LinearConfig::bias),
        value("grow_from", &LinearConfig::grow_from, bounded(0, config_limits::kMaxWidth)),
        value("grow_first_epoch", &LinearConfig::grow_first_epoch, at_least(0)),
        value("grow_epochs", &LinearConfig::grow_epochs, bounded(1, config_limits::kMaxWidth)),
        value("grow_init", &LinearConfig::grow_init, one_of({"preserving", "naive"})),
        value("grow_schedule", &LinearConfig::grow_schedule, one_of({"fixed", "controller"})),
    });
  };
  s.check = [](LayerConfig& entry, const YAML::Node& node, const ReadContext& ctx,
               const std::string& path) {
    const LinearConfig& p = entry.as<LinearConfig>();
    if (p.out == 0) ctx.fail(node, path, "a linear layer needs 'out' (its output width, >= 1)");
    if (p.grow_from > p.out)
      ctx.fail(locate(node, "grow_from"), path + ".grow_from",
               "is " + std::to_string(p.grow_from) + " (allowed: 0 = no growth, or 1.." +
                   std::to_string(p.out) + ", at most 'out')");
    if (p.grow_from > 0 && (p.out - p.grow_from) % p.grow_epochs != 0)
      ctx.fail(locate(node, "grow_epochs"), path + ".grow_epochs",
               "is " + std::to_string(p.grow_epochs) +
                   ", which does not divide out - grow_from = " +
                   std::to_string(p.out - p.grow_from) + " (allowed: a divisor of it)");
  };
  s.out_width = [](const LayerConfig& entry, const YAML::Node& node, const std::string& path,
                   const WidthWalk& walk, const ReadContext& ctx) {
    const LinearConfig& layer = entry.as<LinearConfig>();
    if (layer.in != 0 && layer.in != walk.width) {
      ctx.fail(locate(node, "in"), path + ".in",
               "is " + std::to_string(layer.in) + " but " + walk.source);
    }
    if (walk.width * layer.out > config_limits::kMaxTensorValues) {
      ctx.fail(locate(node, "out"), path + ".out",
               "is " + std::to_string(layer.out) + ", which with the " +
                   std::to_string(walk.width) + " inputs it receives makes " +
                   std::to_string(walk.width * layer.out) + " weights (at most " +
                   std::to_string(config_limits::kMaxTensorValues) + ")");
    }
    return layer.out;
  };
  s.sets_width = true;
  return s;
}

}  // namespace kasmina::config_detail
