#include "ir/plan.hpp"

#include "core/error.hpp"

namespace kasmina::ir {

namespace {

std::string where(const Graph& g, const morph::BlueprintShape& sh) {
  return "blueprint '" + g.name + "' with C=" + std::to_string(sh.chunk) +
         ", h=" + std::to_string(sh.hidden) + ", r=" + std::to_string(sh.rank);
}

int32_t checked_size(const Graph& g, const morph::BlueprintShape& sh, const Dim& d,
                     const std::string& what) {
  const int64_t n = d.eval(sh);
  if (n < 1 || n > (int64_t(1) << 24))
    throw UserError(where(g, sh) + ": " + what + " has size " + std::to_string(n) + " ([" +
                    d.text() + "])");
  return static_cast<int32_t>(n);
}

}  // namespace

int32_t Plan::param_at(int32_t i) const {
  for (size_t p = 0; p < param_offset.size(); ++p)
    if (i < param_offset[p] + param_size[p]) return static_cast<int32_t>(p);
  return -1;
}

int64_t fan_in(const Plan& plan, const Graph& g, int32_t p) {
  return g.params[static_cast<size_t>(p)].dims.back().eval(plan.shape);
}

Plan make_plan(const Graph& g, const morph::BlueprintShape& sh) {
  Plan plan;
  plan.shape = sh;
  const size_t values = g.nodes.size() + 1;
  for (size_t v = 0; v < values; ++v) {
    const int32_t n = checked_size(g, sh, g.value_dim(static_cast<int32_t>(v)),
                                   "value '" + g.value_name(static_cast<int32_t>(v)) + "'");
    plan.offset.push_back(plan.scratch);
    plan.size.push_back(n);
    plan.scratch += n;
  }
  for (const Node& n : g.nodes)
    if (n.op == Op::slice &&
        n.from.eval(sh) + n.size.eval(sh) > plan.size[static_cast<size_t>(n.in[0])])
      throw UserError(where(g, sh) + ": the slice '" + n.out + "' runs past the end of '" +
                      g.value_name(n.in[0]) + "'");
  for (const Param& p : g.params) {
    int32_t count = 1;
    for (const Dim& d : p.dims) count *= checked_size(g, sh, d, "parameter '" + p.name + "'");
    plan.param_offset.push_back(plan.param_count);
    plan.param_size.push_back(count);
    plan.param_count += count;
  }
  // Factors: 1, x, g, then each hidden factor once.
  const int32_t C = sh.chunk;
  plan.value_factor.assign(values, -1);
  plan.grad_factor.assign(values, -1);
  plan.direct_factor.assign(g.params.size(), -1);
  plan.value_factor[0] = 1;
  plan.grad_factor[static_cast<size_t>(g.output)] = 1 + C;
  int32_t next = 1 + 2 * C;
  auto factor = [&](std::vector<int32_t>& table, FactorRef::Kind kind, int32_t id) {
    int32_t& f = table[static_cast<size_t>(id)];
    if (f < 0) {
      f = next;
      next += kind == FactorRef::Kind::direct ? 1 : plan.size[static_cast<size_t>(id)];
      plan.hidden.push_back({kind, id});
    }
    return f;
  };
  plan.blocks.resize(g.params.size());
  for (const Node& n : g.nodes) {
    const int32_t out = static_cast<int32_t>(&n - g.nodes.data()) + 1;
    const int32_t no = plan.size[static_cast<size_t>(out)];
    const int32_t ni = plan.size[static_cast<size_t>(n.in[0])];
    if (n.weight >= 0) {
      const int32_t go = factor(plan.grad_factor, FactorRef::Kind::grad, out);
      const int32_t vi = factor(plan.value_factor, FactorRef::Kind::value, n.in[0]);
      plan.blocks[static_cast<size_t>(n.weight)] = {go, no, vi, ni, false};
      if (n.bias >= 0) plan.blocks[static_cast<size_t>(n.bias)] = {go, no, 0, 1, false};
    }
    if (n.param < 0) continue;
    if (plan.param_size[static_cast<size_t>(n.param)] == 1 && no > 1) {
      const int32_t d = factor(plan.direct_factor, FactorRef::Kind::direct, n.param);
      plan.blocks[static_cast<size_t>(n.param)] = {d, 1, 0, 1, false};
      continue;
    }
    const int32_t go = factor(plan.grad_factor, FactorRef::Kind::grad, out);
    if (n.op == Op::scale)
      plan.blocks[static_cast<size_t>(n.param)] = {
          go, no, factor(plan.value_factor, FactorRef::Kind::value, n.in[0]), ni, true};
    else
      plan.blocks[static_cast<size_t>(n.param)] = {go, no, 0, 1, false};
  }
  plan.factor_count = next;
  if (next > morph::kMaxFactors)
    throw UserError(where(g, sh) + ": its gradient needs " + std::to_string(next) +
                    " factors per row, more than the row path's " +
                    std::to_string(morph::kMaxFactors));
  return plan;
}

}  // namespace kasmina::ir
