// CPU twin of multi-head self-attention (layout and math: transformer_ops.hpp). Every sum is
// accumulated in double, in ascending index order, and rounded once to the tensor's type, so the
// float32 path is a tight reference for the CUDA kernels and the float64 path serves the
// finite-difference checks. bf16 activations (qkv, out, dout, dqkv; lse float32) are widened
// exactly, and each result is rounded to float32 and then to bf16 on the store, where the CUDA
// kernels round their float32 result.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/bf16.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/transformer/transformer_checks.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

// An element as a double (bf16 widened exactly), and a double result stored as E.
template <class E>
double wide(E v) {
  if constexpr (std::is_same_v<E, bf16>)
    return v.to_float();
  else
    return static_cast<double>(v);
}

template <class E>
E stored(double v) {
  if constexpr (std::is_same_v<E, bf16>)
    return bf16::from_float(static_cast<float>(v));
  else
    return static_cast<E>(v);
}

// Pointers into one (batch, head) of qkv [B,T,3D]: q/k/v row t of the head.
template <class T>
struct HeadView {
  const T* base;  // qkv + b·T·3D + h·dh
  int64_t width;  // D
  const T* q(int64_t t) const { return base + t * 3 * width; }
  const T* k(int64_t t) const { return q(t) + width; }
  const T* v(int64_t t) const { return q(t) + 2 * width; }
};

template <class T>
double dot(const T* a, const T* b, int64_t n) {
  double s = 0.0;
  for (int64_t d = 0; d < n; ++d) s += wide(a[d]) * wide(b[d]);
  return s;
}

double scale_of(const AttentionDims& a) {
  return 1.0 / std::sqrt(static_cast<double>(a.head_dim));
}

// T: the activations' type; S: lse's (float32 beside bf16 activations).
template <class T, class S>
void forward(const AttentionDims& a, const T* qkv, T* out, S* lse) {
  const int64_t n = a.tokens, dh = a.head_dim;
  const double scale = scale_of(a);
  std::vector<double> p(static_cast<size_t>(n)), acc(static_cast<size_t>(dh));
  for (int64_t b = 0; b < a.batch; ++b) {
    for (int64_t h = 0; h < a.heads; ++h) {
      const HeadView<T> hv{qkv + b * n * 3 * a.width + h * dh, a.width};
      for (int64_t i = 0; i < n; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < n; ++j) {
          p[j] = scale * dot(hv.q(i), hv.k(j), dh);
          m = std::max(m, p[j]);
        }
        double l = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          p[j] = std::exp(p[j] - m);
          l += p[j];
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < n; ++j) {
          const T* v = hv.v(j);
          for (int64_t d = 0; d < dh; ++d) acc[d] += p[j] / l * wide(v[d]);
        }
        T* o = out + (b * n + i) * a.width + h * dh;
        for (int64_t d = 0; d < dh; ++d) o[d] = stored<T>(acc[d]);
        lse[(b * a.heads + h) * n + i] = static_cast<S>(m + std::log(l));
      }
    }
  }
}

// dV_j = Σ_i P_ij dO_i;  dS_ij = P_ij (dO_i·V_j - D_i), D_i = Σ_j P_ij dO_i·V_j;
// dQ_i = scale Σ_j dS_ij K_j;  dK_j = scale Σ_i dS_ij Q_i.
template <class T, class S>
void backward(const AttentionDims& a, const T* dout, const T* qkv, const S* lse, T* dqkv) {
  const int64_t n = a.tokens, dh = a.head_dim;
  const double scale = scale_of(a);
  std::vector<double> p(static_cast<size_t>(n * n)), ds(static_cast<size_t>(n * n));
  std::vector<double> acc(static_cast<size_t>(dh));
  for (int64_t b = 0; b < a.batch; ++b) {
    for (int64_t h = 0; h < a.heads; ++h) {
      const int64_t head_offset = b * n * 3 * a.width + h * dh;
      const HeadView<T> hv{qkv + head_offset, a.width};
      const T* go = dout + b * n * a.width + h * dh;  // dO row i at go + i·D
      for (int64_t i = 0; i < n; ++i) {
        const double l = static_cast<double>(lse[(b * a.heads + h) * n + i]);
        double row = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          p[i * n + j] = std::exp(scale * dot(hv.q(i), hv.k(j), dh) - l);
          ds[i * n + j] = dot(go + i * a.width, hv.v(j), dh);  // dP_ij for now
          row += p[i * n + j] * ds[i * n + j];
        }
        for (int64_t j = 0; j < n; ++j) ds[i * n + j] = p[i * n + j] * (ds[i * n + j] - row);
      }
      T* dq = dqkv + head_offset;  // dQ row t at dq + t·3D; dK, dV at + D, + 2D
      for (int64_t i = 0; i < n; ++i) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < n; ++j) {
          const T* k = hv.k(j);
          for (int64_t d = 0; d < dh; ++d) acc[d] += ds[i * n + j] * wide(k[d]);
        }
        for (int64_t d = 0; d < dh; ++d) dq[i * 3 * a.width + d] = stored<T>(scale * acc[d]);
      }
      for (int64_t j = 0; j < n; ++j) {
        std::fill(acc.begin(), acc.end(), 0.0);
        std::vector<double> dv(static_cast<size_t>(dh), 0.0);
        for (int64_t i = 0; i < n; ++i) {
          const T* q = hv.q(i);
          const T* g = go + i * a.width;
          for (int64_t d = 0; d < dh; ++d) {
            acc[d] += ds[i * n + j] * wide(q[d]);
            dv[d] += p[i * n + j] * wide(g[d]);
          }
        }
        T* dk = dq + j * 3 * a.width + a.width;
        for (int64_t d = 0; d < dh; ++d) {
          dk[d] = stored<T>(scale * acc[d]);
          dk[a.width + d] = stored<T>(dv[d]);
        }
      }
    }
  }
}

}  // namespace

void attention_forward(const Tensor& qkv, int64_t heads, Tensor& out, Tensor& lse) {
  constexpr const char* op = "attention_forward";
  const AttentionDims a = check_attention_forward_args(qkv, heads, out, lse);
  check_cpu_tensor(op, "qkv", qkv);
  if (qkv.dtype() == DType::bf16) {
    forward<bf16, float>(a, qkv.data<bf16>(), out.data<bf16>(), lse.data<float>());
    return;
  }
  dispatch_float(op, qkv.dtype(), [&](auto zero) {
    using T = decltype(zero);
    forward<T, T>(a, qkv.data<T>(), out.data<T>(), lse.data<T>());
  });
}

void attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& lse, int64_t heads,
                        Tensor& dqkv) {
  constexpr const char* op = "attention_backward";
  const AttentionDims a = check_attention_backward_args(dout, qkv, lse, heads, dqkv);
  check_cpu_tensor(op, "dout", dout);
  if (dout.dtype() == DType::bf16) {
    backward<bf16, float>(a, dout.data<bf16>(), qkv.data<bf16>(), lse.data<float>(),
                          dqkv.data<bf16>());
    return;
  }
  dispatch_float(op, dout.dtype(), [&](auto zero) {
    using T = decltype(zero);
    backward<T, T>(a, dout.data<T>(), qkv.data<T>(), lse.data<T>(), dqkv.data<T>());
  });
}

}  // namespace kasmina::ops::cpu
