// The canonical form and hash: the same for renamed values and parameters, reordered node and
// parameter lists and swapped inputs of add/mul; different for any change of meaning.
#include <gtest/gtest.h>

#include "ir_test_util.hpp"

namespace kasmina::ir {
namespace {

using testing::blueprint;
using testing::graph_of;

std::string gated(const std::string& params, const std::vector<std::string>& nodes) {
  return graph_of(blueprint(params, nodes)).hash;
}

const std::string kParams = "W1: [h, C], b1: [h], W2: [C, h], Wg: [h, C]";
const std::vector<std::string> kNodes = {"{op: linear, in: x, weight: W1, bias: b1, out: u}",
                                         "{op: gelu, in: u, out: a}",
                                         "{op: linear, in: x, weight: Wg, out: gate}",
                                         "{op: sigmoid, in: gate, out: s}",
                                         "{op: mul, in: [a, s], out: m}",
                                         "{op: linear, in: m, weight: W2, out: y}"};

TEST(IrCanonical, HashIgnoresNamesOrderAndCommutedInputs) {
  const std::string h = gated(kParams, kNodes);
  EXPECT_EQ(h.size(), 64u);
  // Renamed values and parameters, the input too.
  const std::string renamed =
      graph_of(
          "blueprints:\n  other:\n    inputs: {inp: [C]}\n"
          "    params: {P: [h, C], q: [h], R: [C, h], G: [h, C]}\n    nodes:\n"
          "      - {op: linear, in: inp, weight: P, bias: q, out: hid}\n"
          "      - {op: gelu, in: hid, out: act}\n"
          "      - {op: linear, in: inp, weight: G, out: g1}\n"
          "      - {op: sigmoid, in: g1, out: g2}\n"
          "      - {op: mul, in: [act, g2], out: prod}\n"
          "      - {op: linear, in: prod, weight: R, out: res}\n    output: res\n")
          .hash;
  EXPECT_EQ(renamed, h);
  // Nodes and parameters listed in another order, mul's inputs swapped.
  EXPECT_EQ(gated("Wg: [h, C], W2: [C, h], b1: [h], W1: [h, C]",
                  {kNodes[5], "{op: mul, in: [s, a], out: m}", kNodes[3], kNodes[2], kNodes[1],
                   kNodes[0]}),
            h);
}

TEST(IrCanonical, HashChangesWithMeaning) {
  const std::string h = gated(kParams, kNodes);
  std::vector<std::string> n = kNodes;
  n[1] = "{op: silu, in: u, out: a}";  // another activation
  EXPECT_NE(gated(kParams, n), h);
  n = kNodes;
  n[5] = "{op: linear, in: m, weight: W2, out: y, init: zeros}";  // another initialiser
  EXPECT_NE(gated(kParams, n), h);
  // The same ops wired in another order.
  EXPECT_NE(
      gated("W: [C, C]", {"{op: linear, in: x, weight: W, out: u}", "{op: tanh, in: u, out: y}"}),
      gated("W: [C, C]", {"{op: tanh, in: x, out: t}", "{op: linear, in: t, weight: W, out: y}"}));
  // sub is not commutative.
  const std::string sub_xy = gated(
      "W: [C, C]", {"{op: linear, in: x, weight: W, out: u}", "{op: sub, in: [u, x], out: y}"});
  const std::string sub_yx = gated(
      "W: [C, C]", {"{op: linear, in: x, weight: W, out: u}", "{op: sub, in: [x, u], out: y}"});
  EXPECT_NE(sub_xy, sub_yx);
  // A constant and an eps are part of the meaning.
  EXPECT_NE(gated("", {"{op: scale, in: x, value: 0.5, out: y}"}),
            gated("", {"{op: scale, in: x, value: 0.25, out: y}"}));
  EXPECT_NE(gated("", {"{op: layernorm, in: x, out: y}"}),
            gated("", {"{op: layernorm, in: x, eps: 1.0e-3, out: y}"}));
}

TEST(IrCanonical, SerialisationNumbersNodesAndParametersByFirstUse) {
  const Graph g =
      graph_of(blueprint("b: [C], W: [C, C]", {"{op: tanh, in: u, out: y}",
                                               "{op: linear, in: x, weight: W, bias: b, out: u}"}));
  EXPECT_EQ(g.canonical_text,
            "kasmina-ir 1\n"
            "input %0 [C]\n"
            "param p0 [C,C] uniform(fan_in)\n"
            "param p1 [C] zeros\n"
            "%1 = linear %0 p0 p1 - [C]\n"
            "%2 = tanh %1 - - - [C]\n"
            "output %2\n");
  EXPECT_EQ(g.params[0].name, "W");
  EXPECT_EQ(g.nodes[0].out, "u");
}

}  // namespace
}  // namespace kasmina::ir
