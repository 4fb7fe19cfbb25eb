#include "ir/program.hpp"

#include <cstring>

#include "core/error.hpp"
#include "ir/program_format.hpp"

namespace kasmina::ir {

namespace {

namespace pf = program;

static_assert(static_cast<int32_t>(Op::linear) == pf::kLinear &&
                  static_cast<int32_t>(Op::sub) == pf::kSub &&
                  static_cast<int32_t>(Op::silu) == pf::kSilu &&
                  static_cast<int32_t>(Op::rmsnorm) == pf::kRmsnorm &&
                  static_cast<int32_t>(Op::max) == pf::kMax &&
                  static_cast<int32_t>(Op::slice) == pf::kSlice && kOpCount == pf::kSlice + 1,
              "the program's op codes follow ir::Op");

int32_t bits(double v) {
  const float f = static_cast<float>(v);
  int32_t b = 0;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

int32_t at(const std::vector<int32_t>& table, int32_t id) {
  return id >= 0 ? table[static_cast<size_t>(id)] : -1;
}

}  // namespace

std::vector<int32_t> make_program(const Graph& g, const Plan& plan) {
  if (g.params.size() > static_cast<size_t>(pf::kMaxDirect))
    throw UserError("blueprint '" + g.name + "': more than " + std::to_string(pf::kMaxDirect) +
                    " parameters for the IR-interpreting kernel");
  std::vector<int32_t> w(pf::kHeaderWords, 0);
  w[pf::kHVersion] = pf::kVersion;
  w[pf::kHChunk] = plan.shape.chunk;
  w[pf::kHNodes] = static_cast<int32_t>(g.nodes.size());
  w[pf::kHScratch] = plan.scratch;
  w[pf::kHParams] = plan.param_count;
  w[pf::kHFactors] = plan.factor_count;
  w[pf::kHOutput] = plan.offset[static_cast<size_t>(g.output)];
  w[pf::kHHidden] = static_cast<int32_t>(plan.hidden.size());
  w[pf::kHBlocks] = static_cast<int32_t>(plan.blocks.size());
  w[pf::kHDirect] = static_cast<int32_t>(g.params.size());
  w[pf::kHHiddenAt] = static_cast<int32_t>(w.size());
  for (const FactorRef& f : plan.hidden) {
    const size_t id = static_cast<size_t>(f.id);
    if (f.kind == FactorRef::Kind::direct) {
      w.insert(w.end(), {pf::kHiddenDirect, plan.direct_factor[id], f.id, 1});
      continue;
    }
    const bool grad = f.kind == FactorRef::Kind::grad;
    w.insert(w.end(),
             {grad ? pf::kHiddenGrad : pf::kHiddenValue,
              (grad ? plan.grad_factor : plan.value_factor)[id], plan.offset[id], plan.size[id]});
  }
  w[pf::kHBlocksAt] = static_cast<int32_t>(w.size());
  for (const morph::GradBlock& b : plan.blocks)
    w.insert(w.end(), {b.a0, b.na, b.b0, b.nb, b.diag ? 1 : 0});
  w[pf::kHNodeTableAt] = static_cast<int32_t>(w.size());
  const size_t table = w.size();
  w.resize(table + g.nodes.size());
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    w[table + k] = static_cast<int32_t>(w.size());
    const bool direct = n.param >= 0 && plan.direct_factor[static_cast<size_t>(n.param)] >= 0;
    std::vector<int32_t> r(pf::kNodeWords, -1);
    r[pf::kNOp] = static_cast<int32_t>(n.op);
    r[pf::kNOut] = plan.offset[k + 1];
    r[pf::kNOutSize] = plan.size[k + 1];
    r[pf::kNInputs] = static_cast<int32_t>(n.in.size());
    r[pf::kNWeight] = at(plan.param_offset, n.weight);
    r[pf::kNBias] = at(plan.param_offset, n.bias);
    r[pf::kNParam] = at(plan.param_offset, n.param);
    r[pf::kNParamSize] = n.param >= 0 ? plan.param_size[static_cast<size_t>(n.param)] : 0;
    r[pf::kNConst] = bits(n.value);
    r[pf::kNEps] = bits(n.eps);
    r[pf::kNFrom] = n.op == Op::slice ? static_cast<int32_t>(n.from.eval(plan.shape)) : 0;
    r[pf::kNDirect] = direct ? n.param : -1;
    for (int32_t v : n.in) {
      r.push_back(plan.offset[static_cast<size_t>(v)]);
      r.push_back(plan.size[static_cast<size_t>(v)]);
    }
    w.insert(w.end(), r.begin(), r.end());
  }
  return w;
}

}  // namespace kasmina::ir
