#include "ir/describe.hpp"

#include "ir/plan.hpp"

namespace kasmina::ir {

std::string describe(const Graph& g, const morph::BlueprintShape& sh) {
  const Plan plan = make_plan(g, sh);
  const std::string at = "C=" + std::to_string(sh.chunk) + ", h=" + std::to_string(sh.hidden) +
                         ", r=" + std::to_string(sh.rank);
  std::string out = "blueprint " + g.name + "\n";
  out += "  hash        " + g.hash + "\n";
  out += "  input       " + g.input + " [C]\n";
  out += "  parameters  " + std::to_string(plan.param_count) + " at " + at + "\n";
  for (size_t p = 0; p < g.params.size(); ++p) {
    const Param& q = g.params[p];
    std::string dims;
    for (const Dim& d : q.dims) dims += (dims.empty() ? "" : ", ") + d.text();
    out += "    " + q.name + " [" + dims + "] " + init_text(q.init) + " (" +
           std::to_string(plan.param_size[p]) + ")\n";
  }
  out += "  nodes\n";
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    std::string args;
    for (int32_t v : n.in) args += (args.empty() ? "" : ", ") + g.value_name(v);
    for (int32_t p : {n.weight, n.bias, n.param})
      if (p >= 0) args += ", " + g.params[static_cast<size_t>(p)].name;
    out += "    " + n.out + " = " + op_name(n.op) + "(" + args + ")  [" + n.dim.text() + "] (" +
           std::to_string(plan.size[k + 1]) + ")\n";
  }
  out += "  output      " + g.value_name(g.output) + " [C]\n";
  out += "  factors     " + std::to_string(plan.factor_count) + " per row\n";
  return out;
}

}  // namespace kasmina::ir
