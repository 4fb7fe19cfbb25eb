#include "ops/blueprint_stream.hpp"

#include <algorithm>
#include <set>

namespace kasmina::ops {

namespace {

using ir::Op;

bool elementwise(Op op) {
  switch (op) {
    case Op::add:
    case Op::sub:
    case Op::mul:
    case Op::relu:
    case Op::gelu:
    case Op::sigmoid:
    case Op::tanh:
    case Op::silu:
    case Op::scale:
    case Op::shift:
      return true;
    default:
      return false;
  }
}

// No loop: every node computed as an array.
StreamPlan no_loop(size_t nodes) {
  StreamPlan s;
  s.in_loop.assign(nodes, false);
  s.reduction.assign(nodes, false);
  s.post.assign(nodes, false);
  return s;
}

// S for loop length L (no_loop when none is left), with the reductions and post nodes.
StreamPlan stream_of_length(const ir::Graph& g, const ir::Plan& plan, int32_t L) {
  const size_t n = g.nodes.size();
  StreamPlan s = no_loop(n);
  s.length = L;
  const auto size = [&](int32_t v) { return plan.size[static_cast<size_t>(v)]; };
  for (size_t k = 0; k < n; ++k) {
    const ir::Node& node = g.nodes[k];
    s.in_loop[k] = size(static_cast<int32_t>(k) + 1) == L &&
                   (node.op == Op::linear || elementwise(node.op)) &&
                   static_cast<int32_t>(k) + 1 != g.output;
  }
  // The consumers of every value.
  std::vector<std::vector<size_t>> users(n + 1);
  for (size_t k = 0; k < n; ++k)
    for (int32_t v : g.nodes[k].in) users[static_cast<size_t>(v)].push_back(k);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t k = 0; k < n; ++k) {
      if (!s.in_loop[k]) continue;
      const ir::Node& node = g.nodes[k];
      bool ok = true;
      if (node.op == Op::linear) {
        ok = !s.loop_value(node.in[0]);
      } else {
        for (int32_t v : node.in) ok = ok && (s.loop_value(v) || size(v) == 1);
      }
      for (size_t u : users[k + 1]) ok = ok && (s.in_loop[u] || g.nodes[u].op == Op::linear);
      if (!ok) {
        s.in_loop[k] = false;
        changed = true;
      }
    }
  }
  // Depends on S (post), and the ordering rule: a loop node's inputs outside S are all pre.
  for (size_t k = 0; k < n; ++k) {
    const ir::Node& node = g.nodes[k];
    bool dep = false;
    for (int32_t v : node.in) dep = dep || (v > 0 && (s.in_loop[v - 1] || s.post[v - 1]));
    if (s.in_loop[k]) {
      for (int32_t v : node.in)
        if (v > 0 && !s.in_loop[v - 1] && s.post[v - 1]) return no_loop(n);
      continue;
    }
    s.post[k] = dep;
    s.reduction[k] = node.op == Op::linear && s.loop_value(node.in[0]);
  }
  if (std::none_of(s.in_loop.begin(), s.in_loop.end(), [](bool b) { return b; })) return no_loop(n);
  return s;
}

}  // namespace

StreamPlan plan_stream(const ir::Graph& g, const ir::Plan& plan) {
  std::set<int32_t> lengths;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const int32_t L = plan.size[k + 1];
    if (L > 1) lengths.insert(L);
  }
  StreamPlan best = no_loop(g.nodes.size());
  size_t best_nodes = 0;
  for (int32_t L : lengths) {  // ascending: a tie goes to the longer
    StreamPlan s = stream_of_length(g, plan, L);
    const size_t nodes = static_cast<size_t>(std::count(s.in_loop.begin(), s.in_loop.end(), true));
    if (nodes > 0 && nodes >= best_nodes) {
      best = std::move(s);
      best_nodes = nodes;
    }
  }
  return best;
}

}  // namespace kasmina::ops
