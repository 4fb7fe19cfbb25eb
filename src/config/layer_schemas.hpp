// The config side of the layer registry (the builders are in src/nn/layer_registry.cpp, keyed
// by the same `type` names): each layer type registers its keys, the rules between them and its
// shape inference (the width it produces from the width it receives, with file:line:key errors
// when it cannot take that width). The model table (config_schema.cpp) takes every type's keys
// from here, each restricted to its type, and the model checks (config_checks.cpp) walk the
// widths through here.
//
// To add a layer type: a value in LayerType (config.hpp) with its name (enum_names.hpp), a
// header src/config/layers/<type>.hpp with its parameter struct, a file
// src/config/layers/<type>.cpp defining its LayerSchema, and its line (and declaration) in
// layer_schemas.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "config/read_context.hpp"
#include "config/schema.hpp"
#include "core/sample_shape.hpp"

namespace kasmina::config_detail {

// The state of the walk along a list of layers: the width the next layer receives and where it
// comes from, for messages ("the fashion_mnist input has 784 features", "the previous layer
// produces 256").
// The shape of a sample travels with it (core/sample_shape.hpp): `rows` per sample (pixels of
// a feature map, tokens) and the image the rows are, when they are one.
struct WidthWalk {
  int64_t width = 0;
  std::string source;
  int64_t rows = 1;
  std::optional<ImageShape> image;
  int64_t largest = 0;  // the most values per sample any layer of the walk produced

  SampleShape shape() const { return SampleShape(rows, width, image); }
  void set(const SampleShape& s) {
    width = s.width;
    rows = s.rows;
    image = s.image;
  }
};

struct LayerSchema {
  LayerType type;
  // The type's parameter struct with its defaults (LayerParams::of(LinearConfig{})); empty for
  // a type without keys.
  std::function<LayerParams()> make_params;
  // The type's keys (besides `type`), in the order of the resolved YAML and of messages; the
  // type's table lifted by layer_fields().
  std::function<std::vector<Field<LayerConfig>>()> fields;
  // Rules between the type's own keys, run after they are read (node: the layer's mapping;
  // path: "model.layers[2]"). May be empty.
  std::function<void(LayerConfig&, const YAML::Node&, const ReadContext&, const std::string&)>
      check;
  // Shape inference: the width the layer produces when it receives walk.width. Fails through
  // ctx when it cannot take that width. Empty: the layer keeps its width.
  std::function<int64_t(const LayerConfig&, const YAML::Node&, const std::string&, const WidthWalk&,
                        const ReadContext&)>
      out_width;
  // Shape inference for a layer that changes more than the width (a convolution, a pooling, a
  // patch embedding, a block with a shortcut): sets the whole shape of walk from what it
  // receives. When present, out_width is not used.
  std::function<void(const LayerConfig&, const YAML::Node&, const std::string&, WidthWalk&,
                     const ReadContext&)>
      reshape;
  // After such a layer, messages say "the previous layer produces W".
  bool sets_width = false;
  // The lists of layers nested in this one, each with its key (a block's `layers`, its
  // `shortcut`), walked after it in this order; empty: none.
  std::function<std::vector<std::pair<std::string, const std::vector<LayerConfig>*>>(
      const LayerConfig&)>
      nested;
};

// The keys of a type whose parameters are a P: each field of P's table becomes a key of the
// layer entry that reads and writes layer.as<P>().
template <class P>
std::vector<Field<LayerConfig>> layer_fields(std::vector<Field<P>> fields) {
  std::vector<Field<LayerConfig>> out;
  for (Field<P>& f : fields) {
    Field<LayerConfig> g;
    g.name = std::move(f.name);
    g.shape = std::move(f.shape);
    g.expected = std::move(f.expected);
    g.read = [read = std::move(f.read)](LayerConfig& layer, const YAML::Node& node,
                                        const ReadContext& ctx, const std::string& path) {
      read(layer.as<P>(), node, ctx, path);
    };
    g.write = [write = std::move(f.write)](const LayerConfig& layer, YAML::Emitter& out) {
      write(layer.as<P>(), out);
    };
    if (f.applies) {
      g.applies = [applies = std::move(f.applies)](const LayerConfig& layer) {
        return layer.params.holds<P>() && applies(layer.as<P>());
      };
    }
    out.push_back(std::move(g));
  }
  return out;
}

// Every registered type, in registration order.
const std::vector<LayerSchema>& layer_schemas();
const LayerSchema& layer_schema(LayerType type);
// The parameters of a `type` layer with their defaults.
LayerParams default_layer_params(LayerType type);

// Walks `layers` (the list at `list_node`, message path `list_path`) from walk.width, checking
// each layer's width through its schema; leaves walk at the output width.
void walk_layer_widths(const std::vector<LayerConfig>& layers, const YAML::Node& list_node,
                       const std::string& list_path, WidthWalk& walk, const ReadContext& ctx);

// A layer of the model with its YAML node and message path, in model order (a block's layers
// after the block).
struct LayerRef {
  const LayerConfig* layer;
  YAML::Node node;
  std::string path;
};
std::vector<LayerRef> all_layers(const std::vector<LayerConfig>& layers,
                                 const YAML::Node& list_node, const std::string& list_path);

// The table of one model.layers entry (config_schema.cpp); residual blocks nest it, so once it
// exists it hands its shape to the nested list (layers/residual.cpp) for --set paths.
const Section<LayerConfig>& layer_table();
void link_nested_layers_shape(std::shared_ptr<const Shape> layer_shape);

}  // namespace kasmina::config_detail
