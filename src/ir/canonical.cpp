#include "ir/canonical.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "core/sha256.hpp"
#include "ir/ops.hpp"

namespace kasmina::ir {

namespace {

std::string param_text(const Param& p) {
  std::string out = "[";
  for (size_t i = 0; i < p.dims.size(); ++i) {
    if (i) out += ',';
    out += p.dims[i].text();
  }
  out += "] ";
  out += init_text(p.init);
  return out;
}

// The node's op and attributes, without its inputs and parameter ids.
std::string attr_text(const Node& n) {
  std::string out = op_name(n.op);
  if (n.op == Op::layernorm || n.op == Op::rmsnorm) out += " eps=" + exact_number_text(n.eps);
  if ((n.op == Op::scale || n.op == Op::shift) && n.param < 0)
    out += " value=" + exact_number_text(n.value);
  if (n.op == Op::slice) out += " from=" + n.from.text() + " size=" + n.size.text();
  return out;
}

// The order in which the node's inputs are visited: add/mul by structure.
std::vector<int32_t> input_order(const Node& n, const std::vector<std::string>& structure) {
  std::vector<int32_t> in = n.in;
  if (commutative(n.op))
    std::stable_sort(in.begin(), in.end(), [&](int32_t a, int32_t b) {
      return structure[static_cast<size_t>(a)] < structure[static_cast<size_t>(b)];
    });
  return in;
}

}  // namespace

Graph canonicalize(Graph g) {
  // The structure below each value (a hash of its subgraph with parameters by shape and
  // initialiser), used only to order the inputs of commutative ops.
  std::vector<std::string> structure(g.nodes.size() + 1);
  structure[0] = "input";
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    std::string s = attr_text(n);
    for (int32_t p : {n.weight, n.bias, n.param})
      s += p >= 0 ? " (" + param_text(g.params[static_cast<size_t>(p)]) + ")" : " -";
    std::vector<std::string> ins;
    for (int32_t v : n.in) ins.push_back(structure[static_cast<size_t>(v)]);
    if (commutative(n.op)) std::sort(ins.begin(), ins.end());
    for (const std::string& i : ins) s += " " + i;
    structure[k + 1] = sha256_hex(s);
  }
  // Depth-first from the output: each node after its inputs.
  std::vector<int32_t> new_value(g.nodes.size() + 1, -1), new_param(g.params.size(), -1);
  new_value[0] = 0;
  std::vector<int32_t> order;  // old node indices
  int32_t params_seen = 0;
  std::function<void(int32_t)> visit = [&](int32_t v) {
    if (new_value[static_cast<size_t>(v)] >= 0) return;
    const Node& n = g.nodes[static_cast<size_t>(v - 1)];
    for (int32_t in : input_order(n, structure)) visit(in);
    for (int32_t p : {n.weight, n.bias, n.param})
      if (p >= 0 && new_param[static_cast<size_t>(p)] < 0)
        new_param[static_cast<size_t>(p)] = params_seen++;
    order.push_back(v - 1);
    new_value[static_cast<size_t>(v)] = static_cast<int32_t>(order.size());
  };
  visit(g.output);
  Graph c;
  c.name = g.name;
  c.input = g.input;
  c.params.resize(static_cast<size_t>(params_seen));
  for (size_t p = 0; p < g.params.size(); ++p)
    if (new_param[p] >= 0) c.params[static_cast<size_t>(new_param[p])] = g.params[p];
  auto remap_param = [&](int32_t p) { return p < 0 ? -1 : new_param[static_cast<size_t>(p)]; };
  for (int32_t old : order) {
    Node n = g.nodes[static_cast<size_t>(old)];
    if (commutative(n.op))  // by structure, ties by canonical position
      std::sort(n.in.begin(), n.in.end(), [&](int32_t a, int32_t b) {
        const auto ka =
            std::make_pair(structure[static_cast<size_t>(a)], new_value[static_cast<size_t>(a)]);
        return ka <
               std::make_pair(structure[static_cast<size_t>(b)], new_value[static_cast<size_t>(b)]);
      });
    for (int32_t& v : n.in) v = new_value[static_cast<size_t>(v)];
    n.weight = remap_param(n.weight);
    n.bias = remap_param(n.bias);
    n.param = remap_param(n.param);
    c.nodes.push_back(std::move(n));
  }
  c.output = new_value[static_cast<size_t>(g.output)];
  // The serialisation.
  std::string text = "kasmina-ir 1\ninput %0 [C]\n";
  for (size_t p = 0; p < c.params.size(); ++p)
    text += "param p" + std::to_string(p) + " " + param_text(c.params[p]) + "\n";
  for (size_t k = 0; k < c.nodes.size(); ++k) {
    const Node& n = c.nodes[k];
    text += "%" + std::to_string(k + 1) + " = " + attr_text(n);
    for (int32_t v : n.in) text += " %" + std::to_string(v);
    for (int32_t p : {n.weight, n.bias, n.param}) text += p >= 0 ? " p" + std::to_string(p) : " -";
    text += " [" + n.dim.text() + "]\n";
  }
  text += "output %" + std::to_string(c.output) + "\n";
  c.canonical_text = text;
  c.hash = sha256_hex(text);
  return c;
}

}  // namespace kasmina::ir
