#include "ir/shapes.hpp"

#include "ir/ops.hpp"

namespace kasmina::ir {

namespace {

std::string dims_text(const std::vector<Dim>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + dims[i].text();
  return out + "]";
}

Dim parse_size(const NodeSpec& n, const std::string& key, const std::string& text) {
  if (text == "0") return Dim::constant(0);
  const std::optional<Dim> d = parse_dim(text);
  if (!d) fail(n.loc, key, "'" + text + "' is not a size (an integer, C, h, r or K*h)");
  return *d;
}

void set_init(Graph& g, int32_t p, const NodeSpec& spec, Init fallback) {
  Param& param = g.params[static_cast<size_t>(p)];
  if (!spec.init.empty()) {
    if (param.init_given)
      fail(spec.loc, "init",
           "parameter '" + param.name + "' already has an initialiser where it is declared");
    const std::optional<Init> init = parse_init(spec.init);
    if (!init)
      fail(spec.loc, "init",
           "'" + spec.init + "' is not an initialiser (allowed: " + std::string(kInitForms) + ")");
    param.init = *init;
    param.init_given = true;
  } else if (!param.init_given) {
    param.init = fallback;
  }
}

const Param& param_of(const Graph& g, int32_t p) {
  return g.params[static_cast<size_t>(p)];
}

}  // namespace

Param parse_param(const ParamSpec& p) {
  Param out;
  out.name = p.name;
  if (p.dims.empty() || p.dims.size() > 2)
    fail(p.loc, "",
         "parameter '" + p.name + "' must have 1 or 2 dimensions, got " +
             std::to_string(p.dims.size()));
  for (const std::string& t : p.dims) {
    const std::optional<Dim> d = parse_dim(t);
    if (!d)
      fail(p.loc, "",
           "dimension '" + t + "' of parameter '" + p.name +
               "' is not a size (an integer, C, h, r or K*h)");
    out.dims.push_back(*d);
  }
  if (!p.init.empty()) {
    const std::optional<Init> init = parse_init(p.init);
    if (!init)
      fail(p.loc, "init",
           "'" + p.init + "' is not an initialiser (allowed: " + std::string(kInitForms) + ")");
    out.init = *init;
    out.init_given = true;
  }
  return out;
}

void infer_shape(Graph& g, int32_t k, const NodeSpec& spec) {
  Node& n = g.nodes[static_cast<size_t>(k)];
  const Dim a = g.value_dim(n.in[0]);
  auto in_text = [&](int32_t i) {
    return "'" + g.value_name(n.in[static_cast<size_t>(i)]) + "' [" +
           g.value_dim(n.in[static_cast<size_t>(i)]).text() + "]";
  };
  switch (n.op) {
    case Op::linear: {
      const Param& w = param_of(g, n.weight);
      if (w.dims.size() != 2 || !(w.dims[1] == a))
        fail(spec.loc, "weight",
             "weight '" + w.name + "' is " + dims_text(w.dims) + " but its input " + in_text(0) +
                 " needs [OUT, " + a.text() + "]");
      n.dim = w.dims[0];
      set_init(g, n.weight, spec, Init{Init::Kind::uniform_fan_in, 1.0});
      if (n.bias >= 0) {
        const Param& b = param_of(g, n.bias);
        if (b.dims.size() != 1 || !(b.dims[0] == n.dim))
          fail(spec.loc, "bias",
               "bias '" + b.name + "' is " + dims_text(b.dims) + "; it must be [" + n.dim.text() +
                   "]");
        if (!param_of(g, n.bias).init_given) g.params[static_cast<size_t>(n.bias)].init = Init{};
      }
      return;
    }
    case Op::add:
    case Op::mul:
    case Op::sub: {
      const Dim b = g.value_dim(n.in[1]);
      if (!(a == b) && !a.is_constant(1) && !b.is_constant(1))
        fail(spec.loc, "in",
             "op " + std::string(op_name(n.op)) + " needs inputs of one size (or one of size 1), " +
                 "got " + in_text(0) + " and " + in_text(1));
      n.dim = a.is_constant(1) ? b : a;
      return;
    }
    case Op::sum:
    case Op::mean:
    case Op::max:
      n.dim = Dim::constant(1);
      return;
    case Op::scale:
    case Op::shift: {
      n.dim = a;
      if (n.param < 0) return;
      const Param& p = param_of(g, n.param);
      if (p.dims.size() != 1 || !(p.dims[0] == a || p.dims[0].is_constant(1)))
        fail(spec.loc, "param",
             "parameter '" + p.name + "' is " + dims_text(p.dims) + "; op " + op_name(n.op) +
                 " on " + in_text(0) + " needs [" + a.text() + "] or [1]");
      set_init(g, n.param, spec, n.op == Op::scale ? Init{Init::Kind::ones, 1.0} : Init{});
      return;
    }
    case Op::concat: {
      n.dim = Dim::constant(0);
      for (int32_t v : n.in) n.dim = n.dim + g.value_dim(v);
      return;
    }
    case Op::slice: {
      n.from = spec.from.empty() ? Dim::constant(0) : parse_size(spec, "from", spec.from);
      n.size = parse_size(spec, "size", spec.size);
      if (n.size.is_constant(0)) fail(spec.loc, "size", "must be at least 1");
      const Dim left = a - n.from - n.size;
      if (left.k[1] == 0 && left.k[2] == 0 && left.k[3] == 0 && left.k[0] < 0)
        fail(spec.loc, "size",
             "the slice [" + n.from.text() + ", " + n.from.text() + " + " + n.size.text() +
                 ") runs past the end of " + in_text(0));
      n.dim = n.size;
      return;
    }
    default:  // activations, layernorm, rmsnorm
      n.dim = a;
      return;
  }
}

}  // namespace kasmina::ir
