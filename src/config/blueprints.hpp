// The config's `blueprints:` section: blueprints written in the IR (src/ir/), read from YAML into
// specs, checked (ir::build) and registered as row blueprints before the layers that name them
// are read. Errors name the file, the line and the key path.
#pragma once
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "config/layers/kasmina.hpp"
#include "config/read_context.hpp"
#include "config/schema.hpp"
#include "ir/graph.hpp"

namespace kasmina::config_detail {

// The `blueprints:` mapping (name -> blueprint) as specs (nothing: none).
std::vector<ir::GraphSpec> read_blueprint_specs(const YAML::Node& node, const ReadContext& ctx,
                                                const std::string& path);
// The checked graph; a GraphError becomes a UserError "FILE:LINE: KEY: MESSAGE".
ir::Graph build_blueprint(const ir::GraphSpec& spec, const ReadContext& ctx);
void write_blueprint_specs(const std::vector<ir::GraphSpec>& specs, YAML::Emitter& out);
// The `blueprints` key of the top level: read, built and registered.
Field<Config> blueprints_field();
// Each IR blueprint a kasmina layer names must fit the layer's shape (chunk = width / seeds,
// hidden, rank): sizes of at least 1, slices within their inputs (node: the layer's mapping).
void check_ir_blueprint_shapes(const KasminaConfig& layer, int64_t width, const YAML::Node& node,
                               const std::string& path, const ReadContext& ctx);

}  // namespace kasmina::config_detail

namespace kasmina {

// The blueprints of a YAML file (a config, or a file holding only `blueprints:`), checked, in
// file order. UserError (file:line: key: ...) when the file or a blueprint is invalid.
std::vector<ir::Graph> load_blueprint_file(const std::string& path);
// Whether the YAML file is a config with a `model:` section (else a file of blueprints only).
bool file_has_model(const std::string& path);

}  // namespace kasmina
