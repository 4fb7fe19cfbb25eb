// The IR's checks: each invalid graph is refused with file:line: key: message, and valid ones
// get their inferred shapes and a topological order whatever order the nodes are listed in.
#include <gtest/gtest.h>

#include "ir/plan.hpp"
#include "ir_test_util.hpp"

namespace kasmina::ir {
namespace {

using testing::blueprint;
using testing::error_of;
using testing::graph_of;

TEST(IrGraph, InfersShapesAndOrdersNodesTopologically) {
  // Listed out of order: y before its inputs.
  const Graph g =
      graph_of(blueprint("W1: [h, C], b1: [h], W2: [C, 2*h]",
                         {"{op: linear, in: c, weight: W2, out: y}",
                          "{op: linear, in: x, weight: W1, bias: b1, out: u}",
                          "{op: relu, in: u, out: a}", "{op: concat, in: [a, u], out: c}"}));
  ASSERT_EQ(g.nodes.size(), 4u);
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (int32_t v : g.nodes[k].in) EXPECT_LE(v, static_cast<int32_t>(k)) << "node " << k;
  EXPECT_EQ(g.nodes.back().out, "y");
  EXPECT_EQ(g.value_dim(g.output).text(), "C");
  std::vector<std::string> dims;
  for (const Node& n : g.nodes) dims.push_back(n.out + ":" + n.dim.text());
  EXPECT_EQ(dims, (std::vector<std::string>{"u:h", "a:h", "c:2*h", "y:C"}));
  const Plan plan = make_plan(g, morph::BlueprintShape{16, 4, 4});
  EXPECT_EQ(plan.param_count, 4 * 16 + 4 + 16 * 8);
  EXPECT_EQ(plan.size, (std::vector<int32_t>{16, 4, 4, 8, 16}));
}

TEST(IrGraph, RefusesUnknownOpsValuesAndParameters) {
  EXPECT_EQ(error_of(blueprint("", {"{op: softplus, in: x, out: y}"})),
            "bp.yaml:6: blueprints.b.nodes[0].op: unknown op 'softplus' (allowed: linear, add, "
            "mul, sub, relu, gelu, sigmoid, tanh, silu, layernorm, rmsnorm, sum, mean, max, "
            "scale, shift, concat, slice)");
  EXPECT_EQ(error_of(blueprint("", {"{op: relu, in: q, out: y}"})),
            "bp.yaml:6: blueprints.b.nodes[0].in: unknown value 'q' (defined: x, y)");
  EXPECT_EQ(error_of(blueprint("W: [C, C]", {"{op: linear, in: x, weight: V, out: y}"})),
            "bp.yaml:6: blueprints.b.nodes[0].weight: unknown parameter 'V' (declared: W)");
  EXPECT_EQ(error_of(blueprint("", {"{op: relu, in: x, bias: b, out: y}"})),
            "bp.yaml:6: blueprints.b.nodes[0].bias: 'bias' does not apply to op relu");
  EXPECT_EQ(error_of(blueprint("", {"{op: add, in: x, out: y}"})),
            "bp.yaml:6: blueprints.b.nodes[0].in: op add takes 2 input(s), got 1");
  EXPECT_EQ(error_of(blueprint("", {"{op: relu, in: x, out: y, colour: red}"})),
            "bp.yaml:6: unknown key 'colour' in "
            "'blueprints.b.nodes[0]' (allowed: op, in, out, weight, bias, param, value, eps, "
            "from, size, init)");
  EXPECT_EQ(error_of(blueprint("", {"{op: relu, in: x, out: y}"}, "z")),
            "bp.yaml:7: blueprints.b.output: unknown value 'z' (defined: x, y)");
}

TEST(IrGraph, RefusesCycles) {
  EXPECT_EQ(error_of(blueprint("", {"{op: relu, in: x, out: a}", "{op: add, in: [a, c], out: b}",
                                    "{op: tanh, in: b, out: c}", "{op: relu, in: c, out: y}"})),
            "bp.yaml:7: blueprints.b.nodes[1].in: the nodes form a cycle: b <- c <- b");
}

TEST(IrGraph, RefusesShapeErrors) {
  EXPECT_EQ(error_of(blueprint("W: [C, h]", {"{op: linear, in: x, weight: W, out: y}"})),
            "bp.yaml:6: blueprints.b.nodes[0].weight: weight 'W' is [C, h] but its input 'x' [C] "
            "needs [OUT, C]");
  EXPECT_EQ(error_of(blueprint("W: [h, C]", {"{op: linear, in: x, weight: W, out: u}",
                                             "{op: add, in: [u, x], out: y}"})),
            "bp.yaml:7: blueprints.b.nodes[1].in: op add needs inputs of one size (or one of "
            "size 1), got 'u' [h] and 'x' [C]");
  EXPECT_EQ(error_of(blueprint("W: [h, C]", {"{op: linear, in: x, weight: W, out: y}"})),
            "bp.yaml:7: blueprints.b.output: the output 'y' is [h]; it is the delta added to the "
            "chunk, so it must be [C]");
  EXPECT_EQ(error_of(blueprint("", {"{op: slice, in: x, from: 2, size: 3, out: s}",
                                    "{op: slice, in: s, from: 1, size: 3, out: y}"})),
            "bp.yaml:7: blueprints.b.nodes[1].size: the slice [1, 1 + 3) runs past the end of "
            "'s' [3]");
  EXPECT_EQ(error_of(blueprint("W: [h, Q]", {"{op: relu, in: x, out: y}"})),
            "bp.yaml:4: blueprints.b.params.W: dimension 'Q' of parameter 'W' is not a size (an "
            "integer, C, h, r or K*h)");
  // A slice that fits only some chunk widths is refused for those, when laid out.
  const Graph g = graph_of(blueprint("W: [C, 4]", {"{op: slice, in: x, size: 4, out: s}",
                                                   "{op: linear, in: s, weight: W, out: y}"}));
  EXPECT_NO_THROW(make_plan(g, morph::BlueprintShape{8, 4, 4}));
  EXPECT_THROW(make_plan(g, morph::BlueprintShape{2, 4, 4}), UserError);
}

TEST(IrGraph, RefusesUnusedSharedAndSurplusParametersAndDeadNodes) {
  EXPECT_EQ(error_of(blueprint("W: [C, C], V: [C]", {"{op: linear, in: x, weight: W, out: y}"})),
            "bp.yaml:4: blueprints.b.params.V: parameter 'V' is not used");
  EXPECT_EQ(error_of(blueprint("W: [C, C]", {"{op: linear, in: x, weight: W, out: u}",
                                             "{op: linear, in: u, weight: W, out: y}"})),
            "bp.yaml:4: blueprints.b.params.W: parameter 'W' is used by 2 nodes (a parameter "
            "feeds one node; declare one per use)");
  EXPECT_EQ(error_of(blueprint("", {"{op: relu, in: x, out: y}", "{op: tanh, in: x, out: z}"})),
            "bp.yaml:7: blueprints.b.nodes[1].out: 'z' does not reach the output");
  EXPECT_EQ(error_of(blueprint(
                "a: [C], b: [C], c: [C], d: [C], e: [C]",
                {"{op: shift, in: x, param: a, out: x1}", "{op: shift, in: x1, param: b, out: x2}",
                 "{op: shift, in: x2, param: c, out: x3}", "{op: shift, in: x3, param: d, out: x4}",
                 "{op: shift, in: x4, param: e, out: y}"})),
            "bp.yaml:2: blueprints.b.params: 5 parameters; a row blueprint has at most 4 (its "
            "gradient layout's blocks)");
}

TEST(IrGraph, InitialisersDefaultByRoleAndRefuseBadForms) {
  const Graph g = graph_of(blueprint("W: [h, C], b: [h], V: [C, h], s: [C]",
                                     {"{op: linear, in: x, weight: W, bias: b, out: u}",
                                      "{op: linear, in: u, weight: V, out: v, init: zeros}",
                                      "{op: scale, in: v, param: s, out: y}"}));
  std::vector<std::string> inits;
  for (const Param& p : g.params) inits.push_back(p.name + "=" + init_text(p.init));
  EXPECT_EQ(inits, (std::vector<std::string>{"W=uniform(fan_in)", "b=zeros", "V=zeros", "s=ones"}));
  EXPECT_EQ(error_of(blueprint("W: {shape: [C, C], init: normal}",
                               {"{op: linear, in: x, weight: W, out: y}"})),
            "bp.yaml:4: blueprints.b.params.W.init: 'normal' is not an initialiser (allowed: "
            "zeros, ones, constant(V), uniform(B), uniform(fan_in), uniform(fan_in, GAIN))");
  EXPECT_EQ(error_of(blueprint("W: {shape: [C, C], init: zeros}",
                               {"{op: linear, in: x, weight: W, out: y, init: ones}"})),
            "bp.yaml:6: blueprints.b.nodes[0].init: parameter 'W' already has an initialiser "
            "where it is declared");
  EXPECT_EQ(init_value(*parse_init("uniform(fan_in, 0.1)"), 0.5f, 4), 0.1f * 0.5f / 2.0f);
  EXPECT_EQ(init_value(*parse_init("uniform(0.25)"), -0.5f, 4), -0.125f);
  EXPECT_EQ(init_value(*parse_init("constant(3)"), 0.9f, 4), 3.0f);
}

}  // namespace
}  // namespace kasmina::ir
