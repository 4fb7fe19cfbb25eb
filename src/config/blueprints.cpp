#include "config/blueprints.hpp"

#include <cmath>
#include <cstdlib>

#include "config/layer_schemas.hpp"
#include "config/layers/kasmina.hpp"
#include "config/yaml_file.hpp"
#include "core/error.hpp"
#include "ir/blueprint.hpp"

namespace kasmina::config_detail {

namespace {

const std::vector<std::string> kBlueprintKeys = {"inputs", "params", "nodes", "output"};
const std::vector<std::string> kNodeKeys = {"op",    "in",  "out",  "weight", "bias", "param",
                                            "value", "eps", "from", "size",   "init"};

ir::Loc loc_of(const YAML::Node& node, const std::string& path) {
  return ir::Loc{node.IsDefined() ? node.Mark().line + 1 : 0, path};
}

std::string scalar(const YAML::Node& node, const ReadContext& ctx, const std::string& path) {
  if (!node.IsScalar()) ctx.fail(node, path, "expected a name, got " + describe_node(node));
  return node.Scalar();
}

double number(const YAML::Node& node, const ReadContext& ctx, const std::string& path) {
  const std::string text = scalar(node, ctx, path);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
    ctx.fail(node, path, "expected a number, got '" + text + "'");
  return v;
}

std::vector<std::string> names(const YAML::Node& node, const ReadContext& ctx,
                               const std::string& path) {
  if (node.IsScalar()) return {node.Scalar()};
  std::vector<std::string> out;
  for_each_element(node, ctx, path, [&](const YAML::Node& e, const std::string& p) {
    out.push_back(scalar(e, ctx, p));
  });
  return out;
}

void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed,
                const ReadContext& ctx, const std::string& path) {
  if (!map.IsMap()) ctx.fail(map, path, "expected a mapping, got " + describe_node(map));
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      ctx.fail_at(kv.first, child_path(path, key), unknown_key_message(key, path, allowed));
  }
}

ir::ParamSpec read_param(const YAML::Node& key, const YAML::Node& value, const ReadContext& ctx,
                         const std::string& path) {
  ir::ParamSpec p;
  p.name = scalar(key, ctx, path);
  p.loc = loc_of(key, child_path(path, p.name));
  YAML::Node shape = value;
  if (value.IsMap()) {
    check_keys(value, {"shape", "init"}, ctx, p.loc.key);
    shape.reset(value["shape"]);
    if (!shape.IsDefined()) ctx.fail(value, p.loc.key, "needs 'shape', e.g. {shape: [h, C]}");
    if (value["init"]) p.init = scalar(value["init"], ctx, child_path(p.loc.key, "init"));
  }
  if (!shape.IsSequence())
    ctx.fail(shape, p.loc.key, "expected a shape such as [h, C], got " + describe_node(shape));
  p.dims = names(shape, ctx, p.loc.key);
  return p;
}

ir::NodeSpec read_node(const YAML::Node& node, const ReadContext& ctx, const std::string& path) {
  check_keys(node, kNodeKeys, ctx, path);
  ir::NodeSpec n;
  n.loc = loc_of(node, path);
  auto text = [&](const char* key, std::string* out) {
    if (node[key]) *out = scalar(node[key], ctx, child_path(path, key));
  };
  text("op", &n.op);
  if (n.op.empty()) ctx.fail(node, path, "every node names its 'op'");
  if (node["in"]) n.in = names(node["in"], ctx, child_path(path, "in"));
  text("out", &n.out);
  text("weight", &n.weight);
  text("bias", &n.bias);
  text("param", &n.param);
  text("from", &n.from);
  text("size", &n.size);
  text("init", &n.init);
  if (node["value"]) n.value = number(node["value"], ctx, child_path(path, "value"));
  if (node["eps"]) n.eps = number(node["eps"], ctx, child_path(path, "eps"));
  return n;
}

ir::GraphSpec read_spec(const YAML::Node& key, const YAML::Node& body, const ReadContext& ctx,
                        const std::string& path) {
  ir::GraphSpec s;
  s.name = scalar(key, ctx, path);
  const std::string here = child_path(path, s.name);
  s.loc = loc_of(key, here);
  check_keys(body, kBlueprintKeys, ctx, here);
  const YAML::Node inputs = body["inputs"];
  if (inputs) {
    const std::string p = child_path(here, "inputs");
    if (!inputs.IsMap() || inputs.size() != 1)
      ctx.fail(inputs, p, "expected one input such as {x: [C]}, got " + describe_node(inputs));
    const auto kv = *inputs.begin();
    s.input = scalar(kv.first, ctx, p);
    const std::vector<std::string> dims = names(kv.second, ctx, child_path(p, s.input));
    s.input_dim = dims.size() == 1 ? dims[0] : "?";
  }
  if (const YAML::Node params = body["params"]) {
    const std::string p = child_path(here, "params");
    if (!params.IsMap()) ctx.fail(params, p, "expected a mapping name -> shape");
    for (const auto& kv : params) s.params.push_back(read_param(kv.first, kv.second, ctx, p));
  }
  const YAML::Node nodes = body["nodes"];
  for_each_element(
      nodes, ctx, child_path(here, "nodes"),
      [&](const YAML::Node& n, const std::string& p) { s.nodes.push_back(read_node(n, ctx, p)); });
  s.output_loc = loc_of(body["output"] ? body["output"] : key, here);
  if (body["output"]) s.output = scalar(body["output"], ctx, child_path(here, "output"));
  return s;
}

}  // namespace

std::vector<ir::GraphSpec> read_blueprint_specs(const YAML::Node& node, const ReadContext& ctx,
                                                const std::string& path) {
  std::vector<ir::GraphSpec> specs;
  if (!node.IsDefined() || node.IsNull()) return specs;
  if (!node.IsMap())
    ctx.fail(node, path, "expected a mapping name -> blueprint, got " + describe_node(node));
  for (const auto& kv : node) specs.push_back(read_spec(kv.first, kv.second, ctx, path));
  return specs;
}

ir::Graph build_blueprint(const ir::GraphSpec& spec, const ReadContext& ctx) {
  try {
    return ir::build(spec);
  } catch (const ir::GraphError& e) {
    throw UserError(ctx.file() + ":" + std::to_string(e.line) + ": " + e.key + ": " + e.what());
  }
}

void write_blueprint_specs(const std::vector<ir::GraphSpec>& specs, YAML::Emitter& out) {
  out << YAML::BeginMap;
  for (const ir::GraphSpec& s : specs) {
    out << YAML::Key << s.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "inputs" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
        << s.input << YAML::Value << YAML::Flow << std::vector<std::string>{s.input_dim}
        << YAML::EndMap;
    out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
    for (const ir::ParamSpec& p : s.params) {
      out << YAML::Key << p.name << YAML::Value << YAML::Flow << YAML::BeginMap;
      out << YAML::Key << "shape" << YAML::Value << YAML::Flow << p.dims;
      if (!p.init.empty()) out << YAML::Key << "init" << YAML::Value << p.init;
      out << YAML::EndMap;
    }
    out << YAML::EndMap << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
    for (const ir::NodeSpec& n : s.nodes) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "op" << YAML::Value << n.op;
      out << YAML::Key << "in" << YAML::Value << YAML::Flow << n.in;
      for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"out", &n.out},
                                       {"weight", &n.weight},
                                       {"bias", &n.bias},
                                       {"param", &n.param},
                                       {"from", &n.from},
                                       {"size", &n.size},
                                       {"init", &n.init}})
        if (!value->empty()) out << YAML::Key << key << YAML::Value << *value;
      if (n.value) out << YAML::Key << "value" << YAML::Value << *n.value;
      if (n.eps) out << YAML::Key << "eps" << YAML::Value << *n.eps;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::Key << "output" << YAML::Value << s.output << YAML::EndMap;
  }
  out << YAML::EndMap;
}

Field<Config> blueprints_field() {
  Field<Config> f;
  f.name = "blueprints";
  f.shape = value_shape();
  f.read = [](Config& c, const YAML::Node& node, const ReadContext& ctx, const std::string& path) {
    c.blueprints = read_blueprint_specs(node, ctx, path);
    for (const ir::GraphSpec& spec : c.blueprints) ir::register_graph(build_blueprint(spec, ctx));
  };
  f.write = [](const Config& c, YAML::Emitter& out) { write_blueprint_specs(c.blueprints, out); };
  return f;
}

void check_ir_blueprint_shapes(const KasminaConfig& layer, int64_t width, const YAML::Node& node,
                               const std::string& path, const ReadContext& ctx) {
  if (layer.seeds <= 0 || width % layer.seeds != 0) return;  // refused by the seeds check
  const morph::BlueprintShape sh{static_cast<int32_t>(width / layer.seeds),
                                 static_cast<int32_t>(layer.hidden),
                                 static_cast<int32_t>(layer.rank)};
  for (size_t i = 0; i < layer.blueprints.size(); ++i) {
    const morph::BlueprintDescriptor* d = morph::find_blueprint(layer.blueprints[i]);
    const ir::IrBlueprint* bp = d ? ir::ir_blueprint_of(*d) : nullptr;
    if (!bp) continue;
    try {
      bp->plan(sh);
    } catch (const UserError& e) {
      ctx.fail(locate(node, "blueprints", i), element_path(path + ".blueprints", i), e.what());
    }
  }
}

}  // namespace kasmina::config_detail

namespace kasmina {

std::vector<ir::Graph> load_blueprint_file(const std::string& path) {
  const config_detail::ReadContext ctx(path);
  const YAML::Node root = config_detail::load_yaml_file(path);
  if (!root.IsMap() || !root["blueprints"])
    throw UserError(path + ":1: blueprints: the file has no 'blueprints:' mapping");
  std::vector<ir::Graph> graphs;
  for (const ir::GraphSpec& spec :
       config_detail::read_blueprint_specs(root["blueprints"], ctx, "blueprints"))
    graphs.push_back(config_detail::build_blueprint(spec, ctx));
  return graphs;
}

bool file_has_model(const std::string& path) {
  const YAML::Node root = config_detail::load_yaml_file(path);
  return root.IsMap() && root["model"].IsDefined();
}

}  // namespace kasmina
