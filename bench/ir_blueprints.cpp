#include "bench/ir_blueprints.hpp"

#include "ir/blueprint.hpp"
#include "ir/graph.hpp"

namespace kasmina::bench {

int32_t residual_mlp_ir_kind() {
  static const int32_t kind = [] {
    ir::GraphSpec s;
    s.name = "residual_mlp_ir";
    s.params = {{"W1", {"h", "C"}, "", {}},
                {"b1", {"h"}, "", {}},
                {"W2", {"C", "h"}, "zeros", {}},
                {"b2", {"C"}, "", {}}};
    ir::NodeSpec l1, act, l2;
    l1.op = "linear", l1.in = {"x"}, l1.weight = "W1", l1.bias = "b1", l1.out = "pre";
    act.op = "gelu", act.in = {"pre"}, act.out = "a";
    l2.op = "linear", l2.in = {"a"}, l2.weight = "W2", l2.bias = "b2", l2.out = "y";
    s.nodes = {l1, act, l2};
    s.output = "y";
    return ir::register_graph(ir::build(s));
  }();
  return kind;
}

}  // namespace kasmina::bench
