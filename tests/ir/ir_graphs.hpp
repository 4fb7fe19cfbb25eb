// Blueprints that together use every IR op (the built-ins' re-statements, gated_mlp, one graph of
// every other op, one of broadcasting operands first): the op coverage of the codegen and
// IR-interpreter tests.
#pragma once
#include <cstdlib>
#include <string>
#include <vector>

#include "config/blueprints.hpp"
#include "ir_test_util.hpp"

namespace kasmina::ir::testing {

inline std::vector<Graph> every_op_graphs() {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  const std::string dir = std::string(root ? root : ".") + "/configs/blueprints/";
  std::vector<Graph> out = load_blueprint_file(dir + "builtins_ir.yaml");
  out.push_back(load_blueprint_file(dir + "gated_mlp.yaml").at(0));
  out.push_back(graph_of(blueprint(
      "s: [C], a: [1], W: [C, 2*C], t: [1]",
      {"{op: layernorm, in: x, out: n}", "{op: rmsnorm, in: n, out: r}",
       "{op: silu, in: r, out: q}", "{op: tanh, in: q, out: th}", "{op: relu, in: th, out: re}",
       "{op: scale, in: re, param: s, out: sc}", "{op: max, in: sc, out: mx}",
       "{op: mean, in: x, out: mu}", "{op: sum, in: x, out: su}", "{op: sub, in: [x, mu], out: c}",
       "{op: add, in: [c, mx], out: d}", "{op: scale, in: d, param: a, out: e}",
       "{op: concat, in: [e, sc], out: cat}", "{op: slice, in: cat, from: 1, size: C, out: sl}",
       "{op: mul, in: [sl, su], out: m}", "{op: concat, in: [m, x], out: m2}",
       "{op: linear, in: m2, weight: W, out: l}", "{op: shift, in: l, param: t, out: y}"})));
  // Scalars first, constants, a vector shift, gelu and sigmoid, a linear with bias to h.
  out.push_back(graph_of(blueprint(
      "W1: [h, C], b1: [h], W2: [C, h], t: [C]",
      {"{op: linear, in: x, weight: W1, bias: b1, out: u}", "{op: gelu, in: u, out: gu}",
       "{op: sigmoid, in: u, out: su}", "{op: mul, in: [gu, su], out: v}",
       "{op: linear, in: v, weight: W2, out: w}", "{op: max, in: x, out: mx}",
       "{op: sub, in: [mx, w], out: z}", "{op: scale, in: z, value: 0.5, out: zs}",
       "{op: shift, in: zs, value: -0.25, out: zt}", "{op: shift, in: zt, param: t, out: y}"})));
  return out;
}

}  // namespace kasmina::ir::testing
