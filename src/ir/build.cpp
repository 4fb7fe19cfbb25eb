// build(): spec -> checked graph. Names are resolved, the ops' keys checked, the nodes put in a
// topological order (cycles refused), shapes inferred (shapes.cpp), every node and parameter
// checked to be used, and the result put in canonical order (canonical.cpp).
#include <algorithm>
#include <set>

#include "ir/canonical.hpp"
#include "ir/graph.hpp"
#include "ir/ops.hpp"
#include "ir/shapes.hpp"
#include "morph/blueprint_layout.hpp"

namespace kasmina::ir {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// The keys a node sets that its op does not take.
void check_keys(const NodeSpec& n, Op op) {
  const OpKeys k = op_keys(op);
  const std::string what = "does not apply to op " + std::string(op_name(op));
  if (!k.weight && !n.weight.empty()) fail(n.loc, "weight", "'weight' " + what);
  if (!k.weight && !n.bias.empty()) fail(n.loc, "bias", "'bias' " + what);
  if (!k.param && !n.param.empty()) fail(n.loc, "param", "'param' " + what);
  if (!k.param && n.value) fail(n.loc, "value", "'value' " + what);
  if (!k.eps && n.eps) fail(n.loc, "eps", "'eps' " + what);
  if (!k.range && !n.from.empty()) fail(n.loc, "from", "'from' " + what);
  if (!k.range && !n.size.empty()) fail(n.loc, "size", "'size' " + what);
  if (!k.init && !n.init.empty()) fail(n.loc, "init", "'init' " + what);
  const int32_t count = static_cast<int32_t>(n.in.size());
  if (count < k.min_in || count > k.max_in) {
    const std::string want =
        k.min_in == k.max_in ? std::to_string(k.min_in) : "at least " + std::to_string(k.min_in);
    fail(n.loc, "in",
         "op " + std::string(op_name(op)) + " takes " + want + " input(s), got " +
             std::to_string(count));
  }
  if (k.weight && n.weight.empty()) fail(n.loc, "weight", "op linear needs a 'weight' parameter");
  if (k.param && n.param.empty() == !n.value)
    fail(n.loc, n.value ? "value" : "param",
         "op " + std::string(op_name(op)) + " takes either 'param' (a parameter) or 'value'");
  if (k.range && n.size.empty()) fail(n.loc, "size", "op slice needs 'size'");
  if (n.eps && !(*n.eps > 0.0)) fail(n.loc, "eps", "must be > 0");
}

struct Names {
  std::vector<std::string> values;  // id -> name (spec order: input, then node outs)
  std::vector<std::string> params;
  int32_t value(const std::string& name) const {
    const auto it = std::find(values.begin(), values.end(), name);
    return it == values.end() ? -1 : static_cast<int32_t>(it - values.begin());
  }
  int32_t param(const std::string& name) const {
    const auto it = std::find(params.begin(), params.end(), name);
    return it == params.end() ? -1 : static_cast<int32_t>(it - params.begin());
  }
};

Names collect_names(const GraphSpec& s) {
  Names names;
  std::set<std::string> seen;
  for (const ParamSpec& p : s.params) {
    if (!seen.insert(p.name).second)
      fail(p.loc, "", "parameter '" + p.name + "' is declared twice");
    names.params.push_back(p.name);
  }
  if (!seen.insert(s.input).second)
    fail(s.loc, "inputs", "the input '" + s.input + "' has the name of a parameter");
  names.values.push_back(s.input);
  for (const NodeSpec& n : s.nodes) {
    if (n.out.empty()) fail(n.loc, "out", "every node names its output ('out')");
    if (!seen.insert(n.out).second)
      fail(n.loc, "out", "'" + n.out + "' is already the name of an input, parameter or node");
    names.values.push_back(n.out);
  }
  return names;
}

int32_t resolve_param(const Names& names, const NodeSpec& n, const std::string& key,
                      const std::string& name) {
  if (name.empty()) return -1;
  const int32_t id = names.param(name);
  if (id < 0)
    fail(n.loc, key, "unknown parameter '" + name + "' (declared: " + join(names.params) + ")");
  return id;
}

// Spec node i -> Node with spec value ids (1 + spec index for node outputs).
Node resolve(const Names& names, const NodeSpec& n) {
  Node node;
  if (!parse_op(n.op, &node.op))
    fail(n.loc, "op", "unknown op '" + n.op + "' (allowed: " + op_names() + ")");
  check_keys(n, node.op);
  for (const std::string& in : n.in) {
    const int32_t id = names.value(in);
    if (id < 0)
      fail(n.loc, "in", "unknown value '" + in + "' (defined: " + join(names.values) + ")");
    node.in.push_back(id);
  }
  node.weight = resolve_param(names, n, "weight", n.weight);
  node.bias = resolve_param(names, n, "bias", n.bias);
  node.param = resolve_param(names, n, "param", n.param);
  if (n.value) node.value = *n.value;
  if (n.eps) node.eps = *n.eps;
  node.out = n.out;
  node.loc = n.loc;
  return node;
}

// A topological order of the spec's nodes (stable: the earliest ready node first); a cycle is
// refused naming its nodes.
std::vector<int32_t> topological_order(const std::vector<Node>& nodes) {
  const int32_t n = static_cast<int32_t>(nodes.size());
  std::vector<bool> done(static_cast<size_t>(n), false);
  std::vector<int32_t> order;
  auto ready = [&](const Node& node) {
    for (int32_t v : node.in)
      if (v > 0 && !done[static_cast<size_t>(v - 1)]) return false;
    return true;
  };
  while (static_cast<int32_t>(order.size()) < n) {
    int32_t pick = -1;
    for (int32_t i = 0; i < n && pick < 0; ++i)
      if (!done[static_cast<size_t>(i)] && ready(nodes[static_cast<size_t>(i)])) pick = i;
    if (pick < 0) {
      // Every node left waits on another one left: walk back along waiting inputs to a cycle.
      int32_t at = 0;
      while (done[static_cast<size_t>(at)]) ++at;
      std::vector<int32_t> path;
      while (std::find(path.begin(), path.end(), at) == path.end()) {
        path.push_back(at);
        for (int32_t v : nodes[static_cast<size_t>(at)].in)
          if (v > 0 && !done[static_cast<size_t>(v - 1)]) {
            at = v - 1;
            break;
          }
      }
      std::string cycle;
      for (auto it = std::find(path.begin(), path.end(), at); it != path.end(); ++it)
        cycle += nodes[static_cast<size_t>(*it)].out + " <- ";
      cycle += nodes[static_cast<size_t>(at)].out;
      fail(nodes[static_cast<size_t>(at)].loc, "in", "the nodes form a cycle: " + cycle);
    }
    done[static_cast<size_t>(pick)] = true;
    order.push_back(pick);
  }
  return order;
}

// Every parameter feeds exactly one node (its gradient is one product of factors), every node
// reaches the output.
void check_uses(const GraphSpec& s, const Graph& g) {
  std::vector<int32_t> uses(g.params.size(), 0);
  for (const Node& n : g.nodes)
    for (int32_t p : {n.weight, n.bias, n.param})
      if (p >= 0) ++uses[static_cast<size_t>(p)];
  for (size_t p = 0; p < uses.size(); ++p) {
    if (uses[p] == 0) fail(s.params[p].loc, "", "parameter '" + g.params[p].name + "' is not used");
    if (uses[p] > 1)
      fail(s.params[p].loc, "",
           "parameter '" + g.params[p].name + "' is used by " + std::to_string(uses[p]) +
               " nodes (a parameter feeds one node; declare one per use)");
  }
  std::vector<bool> live(g.nodes.size() + 1, false);
  live[static_cast<size_t>(g.output)] = true;
  for (size_t k = g.nodes.size(); k-- > 0;) {
    if (!live[k + 1])
      fail(g.nodes[k].loc, "out", "'" + g.nodes[k].out + "' does not reach the output");
    for (int32_t v : g.nodes[k].in) live[static_cast<size_t>(v)] = true;
  }
  if (g.params.size() > static_cast<size_t>(morph::kMaxGradBlocks))
    fail(s.loc, "params",
         std::to_string(g.params.size()) + " parameters; a row blueprint has at most " +
             std::to_string(morph::kMaxGradBlocks) + " (its gradient layout's blocks)");
}

}  // namespace

Graph build(const GraphSpec& s) {
  if (s.input_dim != "C")
    fail(s.loc, "inputs", "the input must be [C] (the seed's chunk), got [" + s.input_dim + "]");
  const Names names = collect_names(s);
  Graph g;
  g.name = s.name;
  g.input = s.input;
  for (const ParamSpec& p : s.params) g.params.push_back(parse_param(p));
  std::vector<Node> spec_nodes;
  for (const NodeSpec& n : s.nodes) spec_nodes.push_back(resolve(names, n));
  const std::vector<int32_t> order = topological_order(spec_nodes);
  std::vector<int32_t> value_of(spec_nodes.size() + 1, 0);  // spec value id -> graph value id
  for (size_t k = 0; k < order.size(); ++k)
    value_of[static_cast<size_t>(order[k]) + 1] = static_cast<int32_t>(k) + 1;
  for (int32_t i : order) {
    Node n = spec_nodes[static_cast<size_t>(i)];
    for (int32_t& v : n.in) v = value_of[static_cast<size_t>(v)];
    g.nodes.push_back(std::move(n));
  }
  if (s.output.empty())
    fail(s.output_loc, "output", "a blueprint names its output value ('output')");
  const int32_t out = names.value(s.output);
  if (out < 0)
    fail(s.output_loc, "output",
         "unknown value '" + s.output + "' (defined: " + join(names.values) + ")");
  g.output = value_of[static_cast<size_t>(out)];
  for (size_t k = 0; k < g.nodes.size(); ++k)
    infer_shape(g, static_cast<int32_t>(k), s.nodes[static_cast<size_t>(order[k])]);
  if (!(g.value_dim(g.output) == Dim::chunk()))
    fail(s.output_loc, "output",
         "the output '" + s.output + "' is [" + g.value_dim(g.output).text() +
             "]; it is the delta added to the chunk, so it must be [C]");
  check_uses(s, g);
  return canonicalize(std::move(g));
}

}  // namespace kasmina::ir
