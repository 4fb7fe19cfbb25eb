// The IR interpreter of one row over a program (ir/program_format.hpp), for the IR-interpreting
// CUDA kernels (ir_interpret.cu) and, being KASMINA_HD, testable on the host against the CPU
// interpreter (tests/ir/test_ir_program.cpp). Its arithmetic follows ir/interpreter.cpp and the
// generated row functions (ops/blueprint_codegen.cpp) op for op in float: the three agree within
// float rounding. Values and their gradients live in caller-given scratch (plan.scratch floats
// each; on the device a thread's slice of a global workspace).
#pragma once
#include <math.h>

#include <cstdint>

#include "core/gelu.hpp"
#include "core/hd.hpp"
#include "ir/program_format.hpp"

namespace kasmina::ir_interp {

namespace pf = ::kasmina::ir::program;

KASMINA_HD float bits_float(int32_t b) {
  union {
    int32_t i;
    float f;
  } u;
  u.i = b;
  return u.f;
}
KASMINA_HD float sigmoid_of(float a) {
  return 1.0f / (1.0f + expf(-a));
}
// layernorm (with the mean) or rmsnorm: the mean and r = 1 / sqrt(var + eps) of a[0..ni).
KASMINA_HD void norm_stats(bool layer, const float* a, int32_t ni, float eps, float* mu, float* r) {
  float m = 0.0f, ss = 0.0f;
  if (layer) {
    for (int32_t i = 0; i < ni; ++i) m += a[i];
    m /= static_cast<float>(ni);
  }
  for (int32_t i = 0; i < ni; ++i) ss += (a[i] - m) * (a[i] - m);
  *mu = m;
  *r = 1.0f / sqrtf(ss / static_cast<float>(ni) + eps);
}
// The scale/shift operand of element o: the parameter (a [1] one broadcasts) or the constant.
KASMINA_HD float operand(const int32_t* n, const float* p, int32_t o) {
  if (n[pf::kNParam] < 0) return bits_float(n[pf::kNConst]);
  return p[n[pf::kNParam] + (n[pf::kNParamSize] == 1 ? 0 : o)];
}

KASMINA_HD void node_forward(const int32_t* n, const float* p, float* v) {
  const int32_t op = n[pf::kNOp], ny = n[pf::kNOutSize];
  const int32_t* in = n + pf::kNodeWords;  // (offset, size) per input
  const float* a = v + in[0];
  const int32_t ni = in[1];
  float* y = v + n[pf::kNOut];
  switch (op) {
    case pf::kLinear: {
      const float* W = p + n[pf::kNWeight];
      for (int32_t o = 0; o < ny; ++o) {
        float s = n[pf::kNBias] >= 0 ? p[n[pf::kNBias] + o] : 0.0f;
        for (int32_t i = 0; i < ni; ++i) s += W[o * ni + i] * a[i];
        y[o] = s;
      }
      return;
    }
    case pf::kAdd:
    case pf::kSub:
    case pf::kMul: {
      const float* b = v + in[2];
      const int32_t nb = in[3];
      for (int32_t o = 0; o < ny; ++o) {
        const float u = a[ni == 1 ? 0 : o], w = b[nb == 1 ? 0 : o];
        y[o] = op == pf::kAdd ? u + w : op == pf::kSub ? u - w : u * w;
      }
      return;
    }
    case pf::kRelu:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] > 0.0f ? a[o] : 0.0f;
      return;
    case pf::kGelu:
      for (int32_t o = 0; o < ny; ++o) y[o] = gelu<float>(a[o], nullptr);
      return;
    case pf::kSigmoid:
      for (int32_t o = 0; o < ny; ++o) y[o] = sigmoid_of(a[o]);
      return;
    case pf::kTanh:
      for (int32_t o = 0; o < ny; ++o) y[o] = tanhf(a[o]);
      return;
    case pf::kSilu:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] * sigmoid_of(a[o]);
      return;
    case pf::kLayernorm:
    case pf::kRmsnorm: {
      float mu, r;
      norm_stats(op == pf::kLayernorm, a, ni, bits_float(n[pf::kNEps]), &mu, &r);
      for (int32_t i = 0; i < ni; ++i) y[i] = (a[i] - mu) * r;
      return;
    }
    case pf::kSum:
    case pf::kMean:
    case pf::kMax: {
      float s = op == pf::kMax ? a[0] : 0.0f;
      for (int32_t i = 0; i < ni; ++i) s = op == pf::kMax ? (a[i] > s ? a[i] : s) : s + a[i];
      y[0] = op == pf::kMean ? s / static_cast<float>(ni) : s;
      return;
    }
    case pf::kScale:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] * operand(n, p, o);
      return;
    case pf::kShift:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[o] + operand(n, p, o);
      return;
    case pf::kConcat: {
      int32_t o = 0;
      for (int32_t k = 0; k < n[pf::kNInputs]; ++k)
        for (int32_t i = 0; i < in[2 * k + 1]; ++i) y[o++] = v[in[2 * k] + i];
      return;
    }
    case pf::kSlice:
      for (int32_t o = 0; o < ny; ++o) y[o] = a[n[pf::kNFrom] + o];
      return;
    default:
      return;
  }
}

// The node's input gradients (in gv) from its output's; direct (not null for a [1] scale/shift
// parameter) receives that parameter's per-row gradient.
KASMINA_HD void node_backward(const int32_t* n, const float* p, const float* v, float* gv,
                              float* direct) {
  const int32_t op = n[pf::kNOp], ny = n[pf::kNOutSize];
  const int32_t* in = n + pf::kNodeWords;
  const float* a = v + in[0];
  const int32_t ni = in[1];
  const float* y = v + n[pf::kNOut];
  const float* gy = gv + n[pf::kNOut];
  float* g0 = gv + in[0];
  switch (op) {
    case pf::kLinear: {
      const float* W = p + n[pf::kNWeight];
      for (int32_t o = 0; o < ny; ++o)
        for (int32_t i = 0; i < ni; ++i) g0[i] += W[o * ni + i] * gy[o];
      return;
    }
    case pf::kAdd:
    case pf::kSub:
    case pf::kMul: {
      const float* b = v + in[2];
      float* g1 = gv + in[2];
      const int32_t nb = in[3];
      for (int32_t o = 0; o < ny; ++o) {
        const int32_t ia = ni == 1 ? 0 : o, ib = nb == 1 ? 0 : o;
        if (op == pf::kMul) {
          g0[ia] += gy[o] * b[ib];
          g1[ib] += gy[o] * a[ia];
        } else {
          g0[ia] += gy[o];
          g1[ib] += op == pf::kAdd ? gy[o] : -gy[o];
        }
      }
      return;
    }
    case pf::kRelu:
      for (int32_t o = 0; o < ny; ++o) g0[o] += a[o] > 0.0f ? gy[o] : 0.0f;
      return;
    case pf::kGelu:
      for (int32_t o = 0; o < ny; ++o) {
        float d;
        gelu<float>(a[o], &d);
        g0[o] += gy[o] * d;
      }
      return;
    case pf::kSigmoid:
      for (int32_t o = 0; o < ny; ++o) g0[o] += gy[o] * y[o] * (1.0f - y[o]);
      return;
    case pf::kTanh:
      for (int32_t o = 0; o < ny; ++o) g0[o] += gy[o] * (1.0f - y[o] * y[o]);
      return;
    case pf::kSilu:
      for (int32_t o = 0; o < ny; ++o) {
        const float s = sigmoid_of(a[o]);
        g0[o] += gy[o] * (s + a[o] * s * (1.0f - s));
      }
      return;
    case pf::kLayernorm:
    case pf::kRmsnorm: {
      float mu, r, mg = 0.0f, mgy = 0.0f;
      norm_stats(op == pf::kLayernorm, a, ni, bits_float(n[pf::kNEps]), &mu, &r);
      for (int32_t i = 0; i < ni; ++i) {
        mg += gy[i];
        mgy += gy[i] * y[i];
      }
      mg = op == pf::kLayernorm ? mg / static_cast<float>(ni) : 0.0f;
      mgy /= static_cast<float>(ni);
      for (int32_t i = 0; i < ni; ++i) g0[i] += r * (gy[i] - mg - y[i] * mgy);
      return;
    }
    case pf::kSum:
    case pf::kMean:
      for (int32_t i = 0; i < ni; ++i)
        g0[i] += op == pf::kMean ? gy[0] / static_cast<float>(ni) : gy[0];
      return;
    case pf::kMax: {
      int32_t at = 0;
      for (int32_t i = 1; i < ni; ++i)
        if (a[i] > a[at]) at = i;
      g0[at] += gy[0];
      return;
    }
    case pf::kScale:
      for (int32_t o = 0; o < ny; ++o) {
        g0[o] += gy[o] * operand(n, p, o);
        if (direct) *direct += gy[o] * a[o];
      }
      return;
    case pf::kShift:
      for (int32_t o = 0; o < ny; ++o) {
        g0[o] += gy[o];
        if (direct) *direct += gy[o];
      }
      return;
    case pf::kConcat: {
      int32_t o = 0;
      for (int32_t k = 0; k < n[pf::kNInputs]; ++k)
        for (int32_t i = 0; i < in[2 * k + 1]; ++i) gv[in[2 * k] + i] += gy[o++];
      return;
    }
    case pf::kSlice:
      for (int32_t o = 0; o < ny; ++o) g0[n[pf::kNFrom] + o] += gy[o];
      return;
    default:
      return;
  }
}

// Every value of one row into v (x is the input value, C floats).
KASMINA_HD void forward_values(const int32_t* prog, const float* p, const float* x, float* v) {
  const int32_t C = prog[pf::kHChunk];
  for (int32_t c = 0; c < C; ++c) v[c] = x[c];
  const int32_t* table = prog + prog[pf::kHNodeTableAt];
  for (int32_t k = 0; k < prog[pf::kHNodes]; ++k) node_forward(prog + table[k], p, v);
}

// delta[c] = the output value (C floats); v: scratch.
KASMINA_HD void row_delta(const int32_t* prog, const float* p, const float* x, float* v,
                          float* delta) {
  forward_values(prog, p, x, v);
  const float* out = v + prog[pf::kHOutput];
  for (int32_t c = 0; c < prog[pf::kHChunk]; ++c) delta[c] = out[c];
}

// With gy = dL/d delta: dx += J_x^T gy (dx not null) and the row's gradient factors into F (not
// null); v and gv: scratch. As ir::row_backward.
KASMINA_HD void row_backward(const int32_t* prog, const float* p, const float* x, const float* gy,
                             float* dx, float* F, float* v, float* gv) {
  forward_values(prog, p, x, v);
  const int32_t C = prog[pf::kHChunk], S = prog[pf::kHScratch];
  for (int32_t i = 0; i < S; ++i) gv[i] = 0.0f;
  float* go = gv + prog[pf::kHOutput];
  for (int32_t c = 0; c < C; ++c) go[c] += gy[c];
  float direct[pf::kMaxDirect] = {0.0f, 0.0f, 0.0f, 0.0f};
  const int32_t* table = prog + prog[pf::kHNodeTableAt];
  for (int32_t k = prog[pf::kHNodes]; k-- > 0;) {
    const int32_t* n = prog + table[k];
    const int32_t d = n[pf::kNDirect];
    node_backward(n, p, v, gv, d >= 0 ? &direct[d] : nullptr);
  }
  if (dx)
    for (int32_t c = 0; c < C; ++c) dx[c] += gv[c];
  if (!F) return;
  F[0] = 1.0f;
  for (int32_t c = 0; c < C; ++c) {
    F[1 + c] = x[c];
    F[1 + C + c] = gy[c];
  }
  const int32_t* h = prog + prog[pf::kHHiddenAt];
  for (int32_t j = 0; j < prog[pf::kHHidden]; ++j, h += pf::kHiddenWords) {
    if (h[0] == pf::kHiddenDirect) {
      F[h[1]] = direct[h[2]];
      continue;
    }
    const float* src = (h[0] == pf::kHiddenGrad ? gv : v) + h[2];
    for (int32_t i = 0; i < h[3]; ++i) F[h[1] + i] = src[i];
  }
}

// The factor pair of packed parameter i (the plan's gradient blocks, morph::grad_term_of).
KASMINA_HD void grad_term(const int32_t* prog, int32_t i, int32_t* fa, int32_t* fb) {
  const int32_t* b = prog + prog[pf::kHBlocksAt];
  for (int32_t j = 0; j < prog[pf::kHBlocks]; ++j, b += pf::kBlockWords) {
    const int32_t size = b[4] ? b[1] : b[1] * b[3];
    if (i < size) {
      *fa = b[0] + (b[4] ? i : i / b[3]);
      *fb = b[2] + (b[4] ? i : i % b[3]);
      return;
    }
    i -= size;
  }
  *fa = 0;
  *fb = 0;
}

}  // namespace kasmina::ir_interp
