// Forward and backward of every op over one row; values and their gradients in per-thread
// scratch buffers laid out by the plan.
#include "ir/interpreter.hpp"

#include <cmath>
#include <vector>

#include "core/gelu.hpp"

namespace kasmina::ir {

namespace {

template <class T>
T sigmoid_of(T a) {
  return T(1) / (T(1) + std::exp(-a));
}

// The mean (layernorm; 0 for rmsnorm) and r = 1 / sqrt(var + eps) of a[0..ni).
template <class T>
void norm_stats(const Node& n, const T* a, int32_t ni, T* mu, T* r) {
  T m = T(0), ss = T(0);
  if (n.op == Op::layernorm) {
    for (int32_t i = 0; i < ni; ++i) m += a[i];
    m /= T(ni);
  }
  for (int32_t i = 0; i < ni; ++i) ss += (a[i] - m) * (a[i] - m);
  *mu = m;
  *r = T(1) / std::sqrt(ss / T(ni) + static_cast<T>(n.eps));
}

// The node's parameter or constant for scale/shift, element i (a [1] parameter broadcasts).
template <class T>
T operand(const Node& n, const Plan& plan, const T* p, int32_t i) {
  if (n.param < 0) return static_cast<T>(n.value);
  const T* q = p + plan.param_offset[static_cast<size_t>(n.param)];
  return plan.param_size[static_cast<size_t>(n.param)] == 1 ? q[0] : q[i];
}

template <class T>
void node_forward(const Node& n, const Plan& plan, const T* p, const T* const* in, int32_t ni,
                  int32_t nb, T* y, int32_t ny) {
  const T* a = in[0];
  switch (n.op) {
    case Op::linear: {
      const T* W = p + plan.param_offset[static_cast<size_t>(n.weight)];
      const T* b = n.bias >= 0 ? p + plan.param_offset[static_cast<size_t>(n.bias)] : nullptr;
      for (int32_t o = 0; o < ny; ++o) {
        T s = b ? b[o] : T(0);
        for (int32_t i = 0; i < ni; ++i) s += W[o * ni + i] * a[i];
        y[o] = s;
      }
      return;
    }
    case Op::add:
    case Op::sub:
    case Op::mul:
      for (int32_t o = 0; o < ny; ++o) {
        const T u = a[ni == 1 ? 0 : o], v = in[1][nb == 1 ? 0 : o];
        y[o] = n.op == Op::add ? u + v : n.op == Op::sub ? u - v : u * v;
      }
      return;
    case Op::relu:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] > T(0) ? a[o] : T(0);
      return;
    case Op::gelu:
      for (int32_t o = 0; o < ny; ++o) y[o] = gelu<T>(a[o], nullptr);
      return;
    case Op::sigmoid:
      for (int32_t o = 0; o < ny; ++o) y[o] = sigmoid_of(a[o]);
      return;
    case Op::tanh:
      for (int32_t o = 0; o < ny; ++o) y[o] = std::tanh(a[o]);
      return;
    case Op::silu:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] * sigmoid_of(a[o]);
      return;
    case Op::layernorm:
    case Op::rmsnorm: {
      T mu, r;
      norm_stats(n, a, ni, &mu, &r);
      for (int32_t i = 0; i < ni; ++i) y[i] = (a[i] - mu) * r;
      return;
    }
    case Op::sum:
    case Op::mean:
    case Op::max: {
      T s = n.op == Op::max ? a[0] : T(0);
      for (int32_t i = 0; i < ni; ++i) s = n.op == Op::max ? (a[i] > s ? a[i] : s) : s + a[i];
      y[0] = n.op == Op::mean ? s / T(ni) : s;
      return;
    }
    case Op::scale:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] * operand(n, plan, p, o);
      return;
    case Op::shift:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] + operand(n, plan, p, o);
      return;
    case Op::concat: {
      int32_t o = 0;
      for (size_t k = 0; k < n.in.size(); ++k)
        for (int32_t i = 0; i < plan.size[static_cast<size_t>(n.in[k])]; ++i) y[o++] = in[k][i];
      return;
    }
    case Op::slice: {
      const int32_t from = static_cast<int32_t>(n.from.eval(plan.shape));
      for (int32_t o = 0; o < ny; ++o) y[o] = a[from + o];
      return;
    }
  }
}

// Adds the node's input gradients (ga[k] += ...) from its output's gradient gy; `direct` (not
// null for a [1] scale/shift parameter) receives that parameter's per-row gradient.
template <class T>
void node_backward(const Node& n, const Plan& plan, const T* p, const T* const* in, int32_t ni,
                   int32_t nb, const T* y, const T* gy, int32_t ny, T* const* ga, T* direct) {
  const T* a = in[0];
  T* g0 = ga[0];
  switch (n.op) {
    case Op::linear: {
      const T* W = p + plan.param_offset[static_cast<size_t>(n.weight)];
      for (int32_t o = 0; o < ny; ++o)
        for (int32_t i = 0; i < ni; ++i) g0[i] += W[o * ni + i] * gy[o];
      return;
    }
    case Op::add:
    case Op::sub:
    case Op::mul:
      for (int32_t o = 0; o < ny; ++o) {
        const int32_t ia = ni == 1 ? 0 : o, ib = nb == 1 ? 0 : o;
        if (n.op == Op::mul) {
          g0[ia] += gy[o] * in[1][ib];
          ga[1][ib] += gy[o] * a[ia];
        } else {
          g0[ia] += gy[o];
          ga[1][ib] += n.op == Op::add ? gy[o] : -gy[o];
        }
      }
      return;
    case Op::relu:
      for (int32_t o = 0; o < ny; ++o) g0[o] += a[o] > T(0) ? gy[o] : T(0);
      return;
    case Op::gelu:
      for (int32_t o = 0; o < ny; ++o) {
        T d;
        gelu<T>(a[o], &d);
        g0[o] += gy[o] * d;
      }
      return;
    case Op::sigmoid:
      for (int32_t o = 0; o < ny; ++o) g0[o] += gy[o] * y[o] * (T(1) - y[o]);
      return;
    case Op::tanh:
      for (int32_t o = 0; o < ny; ++o) g0[o] += gy[o] * (T(1) - y[o] * y[o]);
      return;
    case Op::silu:
      for (int32_t o = 0; o < ny; ++o) {
        const T s = sigmoid_of(a[o]);
        g0[o] += gy[o] * (s + a[o] * s * (T(1) - s));
      }
      return;
    case Op::layernorm:
    case Op::rmsnorm: {
      // y = (a - mu) r: da = r (gy - mean(gy) [layernorm] - y mean(gy y)).
      T mu, r, mg = T(0), mgy = T(0);
      norm_stats(n, a, ni, &mu, &r);
      for (int32_t i = 0; i < ni; ++i) {
        mg += gy[i];
        mgy += gy[i] * y[i];
      }
      mg = n.op == Op::layernorm ? mg / T(ni) : T(0);
      mgy /= T(ni);
      for (int32_t i = 0; i < ni; ++i) g0[i] += r * (gy[i] - mg - y[i] * mgy);
      return;
    }
    case Op::sum:
    case Op::mean:
      for (int32_t i = 0; i < ni; ++i) g0[i] += n.op == Op::mean ? gy[0] / T(ni) : gy[0];
      return;
    case Op::max: {
      int32_t at = 0;
      for (int32_t i = 1; i < ni; ++i)
        if (a[i] > a[at]) at = i;
      g0[at] += gy[0];
      return;
    }
    case Op::scale:
      for (int32_t o = 0; o < ny; ++o) {
        g0[o] += gy[o] * operand(n, plan, p, o);
        if (direct) *direct += gy[o] * a[o];
      }
      return;
    case Op::shift:
      for (int32_t o = 0; o < ny; ++o) {
        g0[o] += gy[o];
        if (direct) *direct += gy[o];
      }
      return;
    case Op::concat: {
      int32_t o = 0;
      for (size_t k = 0; k < n.in.size(); ++k)
        for (int32_t i = 0; i < plan.size[static_cast<size_t>(n.in[k])]; ++i) ga[k][i] += gy[o++];
      return;
    }
    case Op::slice: {
      const int32_t from = static_cast<int32_t>(n.from.eval(plan.shape));
      for (int32_t o = 0; o < ny; ++o) g0[from + o] += gy[o];
      return;
    }
  }
}

template <class T>
std::vector<T>& scratch(int which) {
  thread_local std::vector<T> buffers[2];
  return buffers[which];
}

constexpr size_t kMaxInputs = 64;

}  // namespace

template <class T>
void forward_values(const Graph& g, const Plan& plan, const T* p, const T* x, T* vals) {
  for (int32_t c = 0; c < plan.size[0]; ++c) vals[c] = x[c];
  const T* in[kMaxInputs];
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    for (size_t j = 0; j < n.in.size(); ++j)
      in[j] = vals + plan.offset[static_cast<size_t>(n.in[j])];
    const int32_t nb = n.in.size() > 1 ? plan.size[static_cast<size_t>(n.in[1])] : 0;
    node_forward<T>(n, plan, p, in, plan.size[static_cast<size_t>(n.in[0])], nb,
                    vals + plan.offset[k + 1], plan.size[k + 1]);
  }
}

template <class T>
void row_delta(const Graph& g, const Plan& plan, const T* p, const T* x, T* delta) {
  std::vector<T>& vals = scratch<T>(0);
  vals.resize(static_cast<size_t>(plan.scratch));
  forward_values<T>(g, plan, p, x, vals.data());
  const T* out = vals.data() + plan.offset[static_cast<size_t>(g.output)];
  for (int32_t c = 0; c < plan.shape.chunk; ++c) delta[c] = out[c];
}

template <class T>
void row_backward(const Graph& g, const Plan& plan, const T* p, const T* x, const T* gy, T* dx,
                  T* F) {
  std::vector<T>& vals = scratch<T>(0);
  std::vector<T>& grads = scratch<T>(1);
  vals.resize(static_cast<size_t>(plan.scratch));
  grads.assign(static_cast<size_t>(plan.scratch), T(0));
  forward_values<T>(g, plan, p, x, vals.data());
  const int32_t C = plan.shape.chunk;
  T* go = grads.data() + plan.offset[static_cast<size_t>(g.output)];
  for (int32_t c = 0; c < C; ++c) go[c] += gy[c];
  std::vector<T> direct(g.params.size(), T(0));
  const T* in[kMaxInputs];
  T* ga[kMaxInputs];
  for (size_t k = g.nodes.size(); k-- > 0;) {
    const Node& n = g.nodes[k];
    for (size_t j = 0; j < n.in.size(); ++j) {
      in[j] = vals.data() + plan.offset[static_cast<size_t>(n.in[j])];
      ga[j] = grads.data() + plan.offset[static_cast<size_t>(n.in[j])];
    }
    const bool has_direct = n.param >= 0 && plan.direct_factor[static_cast<size_t>(n.param)] >= 0;
    const int32_t nb = n.in.size() > 1 ? plan.size[static_cast<size_t>(n.in[1])] : 0;
    node_backward<T>(n, plan, p, in, plan.size[static_cast<size_t>(n.in[0])], nb,
                     vals.data() + plan.offset[k + 1], grads.data() + plan.offset[k + 1],
                     plan.size[k + 1], ga,
                     has_direct ? &direct[static_cast<size_t>(n.param)] : nullptr);
  }
  if (dx)
    for (int32_t c = 0; c < C; ++c) dx[c] += grads[static_cast<size_t>(c)];
  if (!F) return;
  F[0] = T(1);
  for (int32_t c = 0; c < C; ++c) {
    F[1 + c] = x[c];
    F[1 + C + c] = gy[c];
  }
  for (const FactorRef& f : plan.hidden) {
    if (f.kind == FactorRef::Kind::direct) {
      F[plan.direct_factor[static_cast<size_t>(f.id)]] = direct[static_cast<size_t>(f.id)];
      continue;
    }
    const bool grad = f.kind == FactorRef::Kind::grad;
    const int32_t at = (grad ? plan.grad_factor : plan.value_factor)[static_cast<size_t>(f.id)];
    const T* src = (grad ? grads : vals).data() + plan.offset[static_cast<size_t>(f.id)];
    for (int32_t i = 0; i < plan.size[static_cast<size_t>(f.id)]; ++i) F[at + i] = src[i];
  }
}

#define KASMINA_IR_INSTANTIATE(T)                                                     \
  template void forward_values<T>(const Graph&, const Plan&, const T*, const T*, T*); \
  template void row_delta<T>(const Graph&, const Plan&, const T*, const T*, T*);      \
  template void row_backward<T>(const Graph&, const Plan&, const T*, const T*, const T*, T*, T*);
KASMINA_IR_INSTANTIATE(float)
KASMINA_IR_INSTANTIATE(double)
#undef KASMINA_IR_INSTANTIATE

}  // namespace kasmina::ir
