// CPU twin of inverted dropout. Element i (flat index) keeps its value when
// u_i = philox_uniform_at(seed, stream, step[0], i) >= p; kept values are divided by (1 - p).
// The CUDA kernels draw the same u_i, so masks agree bit for bit across devices.
#include "core/philox.hpp"
#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

namespace {

void check_probability(const char* op, float p) {
  KASMINA_CHECK(p >= 0.0f && p < 1.0f,
                std::string(op) + ": drop probability " + std::to_string(p) + " outside [0, 1)");
}

}  // namespace

void dropout_forward(const Tensor& x, float p, uint64_t seed, uint32_t stream, const Tensor& step,
                     Tensor& y, Tensor& mask) {
  constexpr const char* op = "dropout_forward";
  check_probability(op, p);
  check_cpu_tensor(op, "x", x);
  check_tensor(op, "y", y, x.dtype(), x.shape());
  check_tensor(op, "mask", mask, DType::u8, x.shape());
  const auto step_value = static_cast<uint64_t>(read_counter(op, "step", step));
  const int64_t count = x.numel();
  uint8_t* keep = mask.data<uint8_t>();
  for (int64_t i = 0; i < count; ++i) {
    const float u = philox_uniform_at(seed, stream, step_value, static_cast<uint64_t>(i));
    keep[i] = u >= p ? 1 : 0;
  }
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T keep_prob = T(1) - static_cast<T>(p);
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for (int64_t i = 0; i < count; ++i) out[i] = keep[i] ? in[i] / keep_prob : T(0);
  });
}

void dropout_backward(const Tensor& dy, const Tensor& mask, float p, Tensor& dx) {
  constexpr const char* op = "dropout_backward";
  check_probability(op, p);
  check_cpu_tensor(op, "dy", dy);
  check_tensor(op, "mask", mask, DType::u8, dy.shape());
  check_tensor(op, "dx", dx, dy.dtype(), dy.shape());
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T keep_prob = T(1) - static_cast<T>(p);
    const uint8_t* keep = mask.data<uint8_t>();
    const T* in = dy.data<T>();
    T* out = dx.data<T>();
    for (int64_t i = 0; i < dy.numel(); ++i) out[i] = keep[i] ? in[i] / keep_prob : T(0);
  });
}

}  // namespace kasmina::ops::cpu
