#include "ops/blueprint_codegen.hpp"

#include <cstdio>

#include "core/error.hpp"
#include "core/gelu.hpp"
#include "ir/ops.hpp"
#include "ops/blueprint_rounding.hpp"
#include "ops/blueprint_stream.hpp"

namespace kasmina::ops {

namespace {

using ir::Node;
using ir::Op;

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9ef", v);  // always a float literal (16 -> 1.6e+01f)
  return buf;
}

std::string I(int64_t v) {
  return std::to_string(v);
}

struct Emitter {
  const ir::Graph& g;
  const ir::Plan& plan;
  std::string out;
  StreamPlan st = plan_stream(g, plan);
  // The loop over the hidden units kept rolled (#pragma unroll 1): a linked row function, compiled
  // alone, has it unrolled by NVVM otherwise (residual_mlp_ir at C = 32, h = 64: a 595 KB module
  // compiled in 2.5 s), where the fused kernels keep it a loop.
  bool rolled_loop = false;

  int32_t size(int32_t v) const { return plan.size[static_cast<size_t>(v)]; }
  // "v3", "g3" (appended, not concatenated: GCC 12 warns falsely on the short literal + string).
  static std::string name(char prefix, int32_t v) {
    std::string s(1, prefix);
    s += I(v);
    return s;
  }
  std::string val(int32_t v) const { return name('v', v); }
  std::string grad(int32_t v) const { return name('g', v); }
  std::string poff(int32_t p) const { return I(plan.param_offset[static_cast<size_t>(p)]); }
  // Element [o][i] of linear node n's weight (ni inputs), in the loops over o and i.
  std::string weight_at(const Node& n, int32_t ni) const {
    return "p[" + poff(n.weight) + " + o * " + I(ni) + " + i]";
  }
  // Element i (an expression) of input j of node n, broadcasting a size-1 input; a loop value
  // is the scalar of this iteration.
  std::string in_at(const Node& n, size_t j, const std::string& i, bool gradient = false) const {
    const int32_t v = n.in[j];
    const std::string name = gradient ? grad(v) : val(v);
    if (st.loop_value(v)) return name;
    return name + "[" + (size(v) == 1 ? "0" : i) + "]";
  }
  std::string operand(const Node& n, const std::string& i) const {
    if (n.param < 0) return num(n.value);
    const bool scalar = plan.param_size[static_cast<size_t>(n.param)] == 1;
    return "p[" + poff(n.param) + (scalar ? "" : " + " + i) + "]";
  }
  // Element o of node output v (or its gradient): this iteration's scalar for a loop value.
  std::string elem(int32_t v, bool gradient = false) const {
    const std::string name = gradient ? grad(v) : val(v);
    return st.loop_value(v) ? name : name + "[o]";
  }
  // Element o of elementwise node n (add, sub, mul, the activations, scale, shift), in a loop
  // over o whether the node's values are arrays or loop scalars.
  std::string elementwise_value(const Node& n) const {
    const std::string A = in_at(n, 0, "o");
    switch (n.op) {
      case Op::add:
        return rn::add(A, in_at(n, 1, "o"));
      case Op::sub:
        return rn::sub(A, in_at(n, 1, "o"));
      case Op::mul:
        return rn::mul(A, in_at(n, 1, "o"));
      case Op::relu:
        return A + " > 0.0f ? " + A + " : 0.0f";
      case Op::gelu:
        return "ks_gelu(" + A + ", nullptr)";
      case Op::sigmoid:
        return "ks_sigmoid(" + A + ")";
      case Op::tanh:
        return "tanhf(" + A + ")";
      case Op::silu:
        return rn::mul(A, "ks_sigmoid(" + A + ")");
      case Op::scale:
        return rn::mul(A, operand(n, "o"));
      case Op::shift:
        return rn::add(A, operand(n, "o"));
      default:
        throw InternalError("codegen: " + std::string(ir::op_name(n.op)) + " is not elementwise");
    }
  }
  // The statements adding element o of elementwise node k's input gradients (and its [1]
  // parameter's whole gradient) from its output's gradient (mirrors the interpreter).
  std::string elementwise_grad(size_t k) const {
    const Node& n = g.nodes[k];
    const int32_t y = static_cast<int32_t>(k) + 1;
    const std::string Y = elem(y), GY = elem(y, true), A = in_at(n, 0, "o"),
                      GA = in_at(n, 0, "o", true);
    const bool direct = n.param >= 0 && plan.direct_factor[static_cast<size_t>(n.param)] >= 0;
    const std::string D = direct ? "d" + I(n.param) : "";
    switch (n.op) {
      case Op::add:
      case Op::sub: {
        const std::string GB = in_at(n, 1, "o", true);
        return rn::add_to(GA, GY) + " " +
               (n.op == Op::add ? rn::add_to(GB, GY) : rn::sub_from(GB, GY));
      }
      case Op::mul:
        return rn::fma_to(GA, GY, in_at(n, 1, "o")) + " " +
               rn::fma_to(in_at(n, 1, "o", true), GY, A);
      case Op::relu:
        return rn::add_to(GA, A + " > 0.0f ? " + GY + " : 0.0f");
      case Op::gelu:
        return "float d; ks_gelu(" + A + ", &d); " + rn::fma_to(GA, GY, "d");
      case Op::sigmoid:  // (GY Y) (1 - Y)
        return rn::fma_to(GA, rn::mul(GY, Y), rn::sub("1.0f", Y));
      case Op::tanh:  // GY (1 - Y Y)
        return rn::fma_to(GA, GY, rn::sub("1.0f", rn::mul(Y, Y)));
      case Op::silu:  // GY (s + (A s) (1 - s))
        return "const float s = ks_sigmoid(" + A + "); " +
               rn::fma_to(GA, GY, rn::add("s", rn::mul(rn::mul(A, "s"), rn::sub("1.0f", "s"))));
      case Op::scale:
        return rn::fma_to(GA, GY, operand(n, "o")) + (direct ? " " + rn::fma_to(D, GY, A) : "");
      case Op::shift:
        return rn::add_to(GA, GY) + (direct ? " " + rn::add_to(D, GY) : "");
      default:
        throw InternalError("codegen: " + std::string(ir::op_name(n.op)) + " is not elementwise");
    }
  }
  std::string indent = "  ";
  void line(const std::string& s) { out += indent + s + "\n"; }
  // Opens a block with the mean mu (layernorm; 0 for rmsnorm) and r = 1 / sqrt(var + eps) of A.
  void norm_stats(const Node& n, int32_t ni, const std::string& A, const std::string& more) {
    line("{ float mu = 0.0f, ss = 0.0f" + more + ";");
    if (n.op == Op::layernorm)
      line("  for (int i = 0; i < " + I(ni) + "; ++i) " + rn::add_to("mu", A + "[i]") +
           " mu = " + rn::div("mu", num(ni)) + ";");
    line("  for (int i = 0; i < " + I(ni) + "; ++i) { const float e = " + rn::sub(A + "[i]", "mu") +
         "; " + rn::fma_to("ss", "e", "e") + " }");
    line("  const float r = " +
         rn::div("1.0f", rn::sqrt(rn::add(rn::div("ss", num(ni)), num(n.eps)))) + ";");
  }

  void forward(size_t k) {
    const Node& n = g.nodes[k];
    const int32_t y = static_cast<int32_t>(k) + 1, ny = size(y);
    const int32_t ni = size(n.in[0]);
    const std::string Y = val(y), A = val(n.in[0]),
                      loop = "for (int o = 0; o < " + I(ny) + "; ++o) ";
    line("float " + Y + "[" + I(ny) + "];  // " + n.out + " = " + ir::op_name(n.op));
    switch (n.op) {
      case Op::linear:
        line(loop + "{ float s = " + (n.bias >= 0 ? "p[" + poff(n.bias) + " + o]" : "0.0f") +
             "; for (int i = 0; i < " + I(ni) + "; ++i) " +
             rn::fma_to("s", weight_at(n, ni), A + "[i]") + " " + Y + "[o] = s; }");
        return;
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
        line(loop + Y + "[o] = " + elementwise_value(n) + ";");
        return;
      case Op::layernorm:
      case Op::rmsnorm:
        norm_stats(n, ni, A, "");
        line("  for (int i = 0; i < " + I(ni) + "; ++i) " + Y +
             "[i] = " + rn::mul(rn::sub(A + "[i]", "mu"), "r") + "; }");
        return;
      case Op::sum:
      case Op::mean:
      case Op::max:
        line("{ float s = " + std::string(n.op == Op::max ? A + "[0]" : "0.0f") +
             "; for (int i = 0; i < " + I(ni) + "; ++i) s = " +
             (n.op == Op::max ? "(" + A + "[i] > s ? " + A + "[i] : s)" : rn::add("s", A + "[i]")) +
             "; " + Y + "[0] = " + (n.op == Op::mean ? rn::div("s", num(ni)) : "s") + "; }");
        return;
      case Op::concat: {
        int32_t at = 0;
        for (int32_t v : n.in) {
          line("for (int i = 0; i < " + I(size(v)) + "; ++i) " + Y + "[" + I(at) +
               " + i] = " + val(v) + "[i];");
          at += size(v);
        }
        return;
      }
      case Op::slice:
        line(loop + Y + "[o] = " + A + "[" + I(n.from.eval(plan.shape)) + " + o];");
        return;
    }
  }

  // The node's input gradients from its output's gradient (mirrors the interpreter).
  void backward(size_t k) {
    const Node& n = g.nodes[k];
    const int32_t y = static_cast<int32_t>(k) + 1, ny = size(y), ni = size(n.in[0]);
    const std::string Y = val(y), GY = grad(y), A = val(n.in[0]), GA = grad(n.in[0]);
    const std::string loop = "for (int o = 0; o < " + I(ny) + "; ++o) ";
    switch (n.op) {
      case Op::linear:
        line(loop + "for (int i = 0; i < " + I(ni) + "; ++i) " +
             rn::fma_to(GA + "[i]", weight_at(n, ni), GY + "[o]"));
        return;
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
        line(loop + "{ " + elementwise_grad(k) + " }");
        return;
      case Op::layernorm:
      case Op::rmsnorm:
        norm_stats(n, ni, A, ", mg = 0.0f, mgy = 0.0f");
        line("  for (int i = 0; i < " + I(ni) + "; ++i) { " + rn::add_to("mg", GY + "[i]") + " " +
             rn::fma_to("mgy", GY + "[i]", Y + "[i]") + " }");
        line(std::string("  mg = ") + (n.op == Op::layernorm ? rn::div("mg", num(ni)) : "0.0f") +
             "; mgy = " + rn::div("mgy", num(ni)) + ";");
        // GA += r ((GY - mg) - Y mgy)
        line("  for (int i = 0; i < " + I(ni) + "; ++i) " +
             rn::fma_to(GA + "[i]", "r",
                        rn::sub(rn::sub(GY + "[i]", "mg"), rn::mul(Y + "[i]", "mgy"))) +
             " }");
        return;
      case Op::sum:
      case Op::mean:
        line("for (int i = 0; i < " + I(ni) + "; ++i) " +
             rn::add_to(GA + "[i]", n.op == Op::mean ? rn::div(GY + "[0]", num(ni)) : GY + "[0]"));
        return;
      case Op::max:
        line("{ int at = 0; for (int i = 1; i < " + I(ni) + "; ++i) if (" + A + "[i] > " + A +
             "[at]) at = i; " + rn::add_to(GA + "[at]", GY + "[0]") + " }");
        return;
      case Op::concat: {
        int32_t at = 0;
        for (int32_t v : n.in) {
          line("for (int i = 0; i < " + I(size(v)) + "; ++i) " +
               rn::add_to(grad(v) + "[i]", GY + "[" + I(at) + " + i]"));
          at += size(v);
        }
        return;
      }
      case Op::slice:
        line(loop + rn::add_to(GA + "[" + I(n.from.eval(plan.shape)) + " + o]", GY + "[o]"));
        return;
    }
  }

  // Loop node k's scalar for this iteration o (ops/blueprint_stream.hpp).
  void loop_forward(size_t k) {
    const Node& n = g.nodes[k];
    const std::string Y = val(static_cast<int32_t>(k) + 1);
    if (n.op != Op::linear) {
      line("const float " + Y + " = " + elementwise_value(n) + ";");
      return;
    }
    const int32_t ni = size(n.in[0]);
    line("float " + Y + " = " + (n.bias >= 0 ? "p[" + poff(n.bias) + " + o]" : "0.0f") + ";  // " +
         n.out + " = linear");
    line("for (int i = 0; i < " + I(ni) + "; ++i) " +
         rn::fma_to(Y, weight_at(n, ni), val(n.in[0]) + "[i]"));
  }
  // Reduction k (a linear over a loop value): this iteration's term of each output, or (backward)
  // of the input's gradient.
  std::string reduction_term(size_t k, const std::string& c) const {
    return "p[" + poff(g.nodes[k].weight) + " + " + c + " * " + I(st.length) + " + o]";
  }
  void loop_reduce(size_t k) {
    const Node& n = g.nodes[k];
    const int32_t y = static_cast<int32_t>(k) + 1;
    line("for (int c = 0; c < " + I(size(y)) + "; ++c) " +
         rn::fma_to(val(y) + "[c]", reduction_term(k, "c"), val(n.in[0])));
  }
  // Loop node k's input gradients from its scalar gradient (mirrors backward()).
  void loop_backward(size_t k) {
    const Node& n = g.nodes[k];
    if (n.op != Op::linear) {
      line("{ " + elementwise_grad(k) + " }");
      return;
    }
    const int32_t ni = size(n.in[0]);
    line("for (int i = 0; i < " + I(ni) + "; ++i) " +
         rn::fma_to(grad(n.in[0]) + "[i]", weight_at(n, ni), grad(static_cast<int32_t>(k) + 1)));
  }
  void loop_reduce_backward(size_t k) {
    const int32_t y = static_cast<int32_t>(k) + 1;
    line("for (int c = 0; c < " + I(size(y)) + "; ++c) " +
         rn::fma_to(grad(g.nodes[k].in[0]), reduction_term(k, "c"), grad(y) + "[c]"));
  }
  void open_loop() {
    if (rolled_loop) line("#pragma unroll 1");
    line("for (int o = 0; o < " + I(st.length) + "; ++o) {  // the loop nodes");
    indent += "  ";
    for (size_t k = 0; k < g.nodes.size(); ++k)
      if (st.in_loop[k]) loop_forward(k);
  }
  void close_loop() {
    indent.resize(indent.size() - 2);
    line("}");
  }

  // Whether the backward needs the reductions' sums (a node after the loop reads them, or one is
  // a factor); when not, it computes only the nodes before the loop ahead of the gradients.
  bool backward_needs_sums() const {
    for (size_t k = 0; k < g.nodes.size(); ++k)
      if ((st.post[k] && !st.reduction[k]) || (st.reduction[k] && plan.value_factor[k + 1] >= 0))
        return true;
    return false;
  }
  // x into v0, then every value: the nodes before the loop, the loop (its nodes' scalars and the
  // reductions' sums), the nodes after it (for_backward: only what the backward reads).
  void forward_all(bool for_backward) {
    line("float v0[" + I(size(0)) + "];");
    line("for (int c = 0; c < " + I(size(0)) + "; ++c) v0[c] = xr[c];");
    const size_t n = g.nodes.size();
    if (st.length == 0) {
      for (size_t k = 0; k < n; ++k) forward(k);
      return;
    }
    for (size_t k = 0; k < n; ++k)
      if (!st.in_loop[k] && !st.post[k]) forward(k);
    if (for_backward && !backward_needs_sums()) return;
    for (size_t k = 0; k < n; ++k) {
      if (!st.reduction[k]) continue;
      const Node& r = g.nodes[k];
      const int32_t y = static_cast<int32_t>(k) + 1;
      line("float " + val(y) + "[" + I(size(y)) + "];  // " + r.out + " = linear (over the loop)");
      line("for (int c = 0; c < " + I(size(y)) + "; ++c) " + val(y) +
           "[c] = " + (r.bias >= 0 ? "p[" + poff(r.bias) + " + c]" : "0.0f") + ";");
    }
    open_loop();
    for (size_t k = 0; k < n; ++k)
      if (st.reduction[k]) loop_reduce(k);
    close_loop();
    for (size_t k = 0; k < n; ++k)
      if (st.post[k] && !st.reduction[k]) forward(k);
  }

  // The gradients, in reverse node order: the nodes after the loop, the loop (its nodes'
  // scalars recomputed, their gradients, their factors), the nodes before it.
  void backward_all() {
    const size_t n = g.nodes.size();
    if (st.length == 0) {
      for (size_t k = n; k-- > 0;) backward(k);
      return;
    }
    for (size_t k = n; k-- > 0;)
      if (st.post[k] && !st.reduction[k]) backward(k);
    open_loop();
    for (size_t k = 0; k < n; ++k)
      if (st.in_loop[k]) line("float " + grad(static_cast<int32_t>(k) + 1) + " = 0.0f;");
    for (size_t k = n; k-- > 0;) {
      if (st.reduction[k]) loop_reduce_backward(k);
      if (st.in_loop[k]) loop_backward(k);
    }
    std::string stores;
    for (const ir::FactorRef& f : plan.hidden) {
      if (f.kind == ir::FactorRef::Kind::direct || !st.loop_value(f.id)) continue;
      const bool gr = f.kind == ir::FactorRef::Kind::grad;
      const int32_t at = (gr ? plan.grad_factor : plan.value_factor)[static_cast<size_t>(f.id)];
      stores += " f[" + I(at) + " + o] = " + (gr ? grad(f.id) : val(f.id)) + ";";
    }
    if (!stores.empty()) line("if (f) {" + stores + " }");
    close_loop();
    for (size_t k = n; k-- > 0;)
      if (!st.in_loop[k] && !st.post[k]) backward(k);
  }
};

std::string preamble(const ir::Graph& g, const ir::Plan& plan) {
  using rn::add, rn::mul, rn::sub;
  const std::string k = num(GeluConstants<float>::k), c = num(GeluConstants<float>::c),
                    c3 = num(3.0f * GeluConstants<float>::c);
  return "// kasmina IR blueprint '" + g.name + "' " + g.hash + "\n// C=" + I(plan.shape.chunk) +
         " h=" + I(plan.shape.hidden) + " r=" + I(plan.shape.rank) + ", codegen " +
         I(kBlueprintCodegenVersion) + ", " + I(plan.param_count) + " parameters, " +
         I(plan.factor_count) +
         " factors per row\n"
         "__device__ __forceinline__ float ks_sigmoid(float a) { return " +
         rn::div("1.0f", add("1.0f", "expf(-a)")) +
         "; }\n"
         "// gelu as core/gelu.hpp (tanh form, its operations in its order) with its derivative\n"
         "// from the same tanh.\n"
         "__device__ __forceinline__ float ks_gelu(float x, float* d) {\n"
         "  const float t = tanhf(" +
         mul(k, add("x", mul(mul(mul(c, "x"), "x"), "x"))) +
         ");\n"
         "  const float hx = " +
         mul("0.5f", "x") + ";\n  if (d) *d = " +
         add(mul("0.5f", add("1.0f", "t")), mul(mul(mul("hx", sub("1.0f", mul("t", "t"))), k),
                                                add("1.0f", mul(mul(c3, "x"), "x")))) +
         ";\n  return " + mul("hx", add("1.0f", "t")) + ";\n}\n";
}

}  // namespace

std::string generate_blueprint_source(const ir::Graph& g, const ir::Plan& plan, ModuleParts parts) {
  const bool linked = parts == ModuleParts::linked_rows;
  Emitter e{g, plan, preamble(g, plan)};
  e.rolled_loop = linked;
  const std::string C = I(plan.shape.chunk);
  // The row functions: delta of one row, and its backward (dx += J^T g, the row's factors);
  // inlined into the seed kernels, or called by them from another program (linked).
  const std::string fn = linked ? kLinkedRowFunction : "__device__ __forceinline__";
  // Linked: the delta in row program 1, the backward in row program 2.
  if (linked) e.out += kRowProgramGuard[0];
  e.out += fn +
           " void ks_row_delta(const float* __restrict__ xr, "
           "const float* __restrict__ p, float* __restrict__ out) {\n";
  e.forward_all(false);
  e.line("for (int c = 0; c < " + C + "; ++c) out[c] = " + e.val(g.output) + "[c];");
  e.out += "}\n";
  if (linked) e.out += std::string("#endif\n") + kRowProgramGuard[1];
  e.out += fn +
           " void ks_row_backward(const float* __restrict__ xr, "
           "const float* __restrict__ gr, const float* __restrict__ p, float* dx, float* f) {\n";
  e.forward_all(true);
  for (int32_t v = 0; v <= static_cast<int32_t>(g.nodes.size()); ++v)
    if (!e.st.loop_value(v)) e.line("float " + e.grad(v) + "[" + I(e.size(v)) + "] = {};");
  for (size_t p = 0; p < g.params.size(); ++p)
    if (plan.direct_factor[p] >= 0) e.line("float d" + I(static_cast<int64_t>(p)) + " = 0.0f;");
  e.line("for (int c = 0; c < " + C + "; ++c) " + rn::add_to(e.grad(g.output) + "[c]", "gr[c]"));
  e.backward_all();
  e.line("if (dx) for (int c = 0; c < " + C + "; ++c) " + rn::add_to("dx[c]", "g0[c]"));
  e.line("if (!f) return;");
  e.line("f[0] = 1.0f;");
  e.line("for (int c = 0; c < " + C + "; ++c) { f[1 + c] = v0[c]; f[" + I(1 + plan.shape.chunk) +
         " + c] = gr[c]; }");
  for (const ir::FactorRef& f : plan.hidden) {
    if (f.kind == ir::FactorRef::Kind::direct) {
      e.line("f[" + I(plan.direct_factor[static_cast<size_t>(f.id)]) + "] = d" + I(f.id) + ";");
      continue;
    }
    if (e.st.loop_value(f.id)) continue;  // stored in the loop
    const bool gr = f.kind == ir::FactorRef::Kind::grad;
    const int32_t at = (gr ? plan.grad_factor : plan.value_factor)[static_cast<size_t>(f.id)];
    e.line("for (int i = 0; i < " + I(e.size(f.id)) + "; ++i) f[" + I(at) +
           " + i] = " + (gr ? e.grad(f.id) : e.val(f.id)) + "[i];");
  }
  e.out += "}\n";
  if (parts == ModuleParts::seed_kernels) return e.out + seed_kernels_source(plan);
  if (parts == ModuleParts::seed_kernels_head) return e.out + seed_kernels_source(plan, false);
  if (parts == ModuleParts::linked_rows) return e.out + linked_rows_tail(plan);
  // The row kernels: one thread per row.
  e.out += std::string("extern \"C\" __global__ void ") + kIrDeltaKernel +
           "(int rows, const float* __restrict__ x, long long ldx, const float* __restrict__ p, "
           "float* __restrict__ delta, long long ldd) {\n"
           "  const int row = blockIdx.x * blockDim.x + threadIdx.x;\n"
           "  if (row >= rows) return;\n"
           "  ks_row_delta(x + row * ldx, p, delta + row * ldd);\n}\n";
  e.out += std::string("extern \"C\" __global__ void ") + kIrBackwardKernel +
           "(int rows, const float* __restrict__ x, long long ldx, const float* __restrict__ g, "
           "long long ldg, const float* __restrict__ p, float* dx, long long lddx, float* F, "
           "long long ldf) {\n"
           "  const int row = blockIdx.x * blockDim.x + threadIdx.x;\n"
           "  if (row >= rows) return;\n"
           "  ks_row_backward(x + row * ldx, g + row * ldg, p, dx ? dx + row * lddx : nullptr,\n"
           "                  F ? F + row * ldf : nullptr);\n}\n";
  e.out += seed_kernels_source(plan);
  return e.out;
}

}  // namespace kasmina::ops
