// Helpers of the CUDA-vs-CPU suite: random inputs, NaN-poisoned CUDA outputs, and comparisons
// whose failure message names the op, the case, the error and the first mismatching index.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/bf16.hpp"
#include "core/tensor.hpp"
#include "ops/ops.hpp"

namespace kasmina::cuda_test {

// Relative tolerances of a CUDA result against its CPU twin, by the precision of the
// computation (integers, masks and gathered rows are compared exactly with same()):
inline constexpr double kTolF32 = 1e-5;        // float32, elementwise or short reductions
inline constexpr double kTolF32Reduce = 1e-4;  // float32 GEMMs and long reductions (order differs)
inline constexpr double kTolTf32 = 5e-3;       // TF32 tensor-core GEMMs (10-bit mantissa inputs)

inline Device gpu() {
  return Device::cuda(0);
}

// Skips the calling test unless a CUDA device can run it.
#define KASMINA_REQUIRE_CUDA()                                                                  \
  do {                                                                                          \
    ::kasmina::ops::init();                                                                     \
    if (!::kasmina::ops::cuda_built())                                                          \
      GTEST_SKIP() << "no CUDA device: this build has no CUDA support (-Dcuda=disabled)";       \
    if (!::kasmina::ops::cuda_available())                                                      \
      GTEST_SKIP() << "no CUDA device: none visible to the CUDA runtime";                       \
    ::kasmina::ops::set_math_mode(::kasmina::cuda_test::gpu(), ::kasmina::ops::MathMode::fp32); \
    ::kasmina::ops::set_deterministic(::kasmina::cuda_test::gpu(), true);                       \
  } while (0)

// Uniform random float32 values in [lo, hi) on the CPU.
inline Tensor random_f32(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape);
}

// Values with |x| in [gap, 1) and random sign: safely away from an activation's kink at 0.
inline Tensor random_away_from_zero(const Shape& shape, uint64_t seed, float gap = 0.05f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> mag(gap, 1.0f);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = sign(rng) ? mag(rng) : -mag(rng);
  return Tensor::from_vector(v, shape);
}

// A tensor (on the GPU unless `dev` says otherwise) whose every byte is garbage: NaN for floats,
// 0xCD.. for integers, so that an output element a kernel or twin fails to write cannot pass.
inline Tensor poisoned(const Shape& shape, DType dt, Device dev = gpu()) {
  Tensor t = Tensor::empty(shape, dt, dev);
  if (t.numel() == 0) return t;
  if (dt == DType::f32 || dt == DType::f64) {
    ops::fill(t, std::numeric_limits<double>::quiet_NaN());
  } else {
    backend(dev.type).fill_bytes(t.raw(), dev, 0xCD, t.nbytes());
  }
  return t;
}

inline Tensor on_gpu(const Tensor& t) {
  return t.to(gpu());
}

template <class T>
std::vector<double> as_doubles(const Tensor& t) {
  const std::vector<T> v = t.to_vector<T>();
  return std::vector<double>(v.begin(), v.end());
}

inline std::vector<double> host_values(const Tensor& t) {
  switch (t.dtype()) {
    case DType::f32:
      return as_doubles<float>(t);
    case DType::f64:
      return as_doubles<double>(t);
    case DType::i32:
      return as_doubles<int32_t>(t);
    case DType::i64:
      return as_doubles<int64_t>(t);
    case DType::u8:
      return as_doubles<uint8_t>(t);
    case DType::bf16: {
      std::vector<double> out;
      for (const bf16& b : t.to(Device::cpu()).to_vector<bf16>()) out.push_back(b.to_float());
      return out;
    }
    default:
      return {};
  }
}

// Column sums, in double, of the values a CUDA matrix [rows, cols] holds, as float32.
inline Tensor column_sums_of(const Tensor& cuda_bf16, int64_t rows, int64_t cols) {
  const std::vector<double> v = host_values(cuda_bf16);
  std::vector<float> out(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s += v[static_cast<size_t>(r * cols + c)];
    out[static_cast<size_t>(c)] = static_cast<float>(s);
  }
  return Tensor::from_vector(out, {cols});
}

// Passes when every CUDA value is finite and ‖out − ref‖₂ ≤ tol · max(‖ref‖₂, 1e-30)
// (for an all-zero reference: ‖out‖₂ ≤ tol). On failure the message lists the op and case,
// the relative and max abs errors, the non-finite count and the first index where
// |out − ref| > tol · max(|ref|, rms(ref)).
inline ::testing::AssertionResult close(const std::string& what, const Tensor& cuda_out,
                                        const Tensor& cpu_ref, double tol) {
  if (cuda_out.numel() != cpu_ref.numel()) {
    return ::testing::AssertionFailure() << what << ": " << cuda_out.numel() << " CUDA values vs "
                                         << cpu_ref.numel() << " reference values";
  }
  const std::vector<double> out = host_values(cuda_out), ref = host_values(cpu_ref);
  double diff2 = 0.0, ref2 = 0.0, max_abs = 0.0;
  int64_t non_finite = 0, first_bad = -1, bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    ref2 += ref[i] * ref[i];
    if (!std::isfinite(out[i])) {
      ++non_finite;
      continue;
    }
    const double d = std::fabs(out[i] - ref[i]);
    diff2 += d * d;
    max_abs = std::max(max_abs, d);
  }
  const double ref_norm = std::sqrt(ref2);
  const double rms = ref.empty() ? 0.0 : ref_norm / std::sqrt(static_cast<double>(ref.size()));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(out[i] - ref[i]);
    if (!std::isfinite(out[i]) || d > tol * std::max(std::fabs(ref[i]), rms)) {
      if (first_bad < 0) first_bad = static_cast<int64_t>(i);
      ++bad;
    }
  }
  const double rel = ref_norm > 0.0 ? std::sqrt(diff2) / ref_norm : std::sqrt(diff2);
  if (non_finite == 0 && rel <= tol) return ::testing::AssertionSuccess();
  std::ostringstream m;
  m << what << " " << shape_str(cpu_ref.shape()) << ": rel error " << rel << " (tol " << tol
    << "), max abs error " << max_abs << ", " << non_finite << " non-finite CUDA values, " << bad
    << " elements off";
  if (first_bad >= 0) {
    m << "; first at flat index " << first_bad << ": cuda " << out[first_bad] << " vs cpu "
      << ref[first_bad];
  }
  return ::testing::AssertionFailure() << m.str();
}

// Bitwise/exact equality (integers, masks, gathered rows).
inline ::testing::AssertionResult same(const std::string& what, const Tensor& cuda_out,
                                       const Tensor& cpu_ref) {
  if (cuda_out.numel() != cpu_ref.numel() || cuda_out.dtype() != cpu_ref.dtype()) {
    return ::testing::AssertionFailure() << what << ": size or dtype differs";
  }
  const std::vector<double> out = host_values(cuda_out), ref = host_values(cpu_ref);
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool equal = out[i] == ref[i] || (std::isnan(out[i]) && std::isnan(ref[i]));
    if (!equal) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " " << shape_str(cpu_ref.shape()) << ": " << bad
                                       << " elements differ; first at flat index " << first
                                       << ": cuda " << out[first] << " vs cpu " << ref[first];
}

// Two CUDA results bitwise identical (run-to-run determinism).
inline ::testing::AssertionResult bitwise_equal(const std::string& what, const Tensor& a,
                                                const Tensor& b) {
  const Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  if (ha.nbytes() != hb.nbytes()) return ::testing::AssertionFailure() << what << ": sizes differ";
  const auto* pa = static_cast<const unsigned char*>(ha.raw());
  const auto* pb = static_cast<const unsigned char*>(hb.raw());
  for (size_t i = 0; i < ha.nbytes(); ++i) {
    if (pa[i] != pb[i]) {
      return ::testing::AssertionFailure()
             << what << " " << shape_str(a.shape()) << ": runs differ first at byte " << i;
    }
  }
  return ::testing::AssertionSuccess();
}

// Every CUDA element finite and within one bf16 ulp of the CPU's (plus the fp32 sums' order
// error, kTolF32Reduce of the reference's rms, for values that cancel), and at most 2% differ by
// more than that order error (a value whose exact result is zero, such as attention's query and
// key gradients over one token, is float32 rounding noise on the GPU and double noise on the
// CPU: every such element differs, all within the order error).
inline ::testing::AssertionResult within_one_ulp(const std::string& what, const Tensor& cuda_out,
                                                 const Tensor& cpu_ref) {
  const std::vector<double> out = host_values(cuda_out), ref = host_values(cpu_ref);
  if (out.size() != ref.size() || out.size() != static_cast<size_t>(cpu_ref.numel()))
    return ::testing::AssertionFailure() << what << ": sizes differ";
  double ref2 = 0.0;
  for (double r : ref) ref2 += r * r;
  const double rms = ref.empty() ? 0.0 : std::sqrt(ref2 / static_cast<double>(ref.size()));
  int64_t differ = 0, bad = 0, first = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(out[i] - ref[i]);
    if (d > kTolF32Reduce * rms) ++differ;
    // One bf16 ulp of the larger magnitude: 2^(e - 7) for a value in [2^e, 2^(e+1)) (8
    // significant bits); sums in another order may round to the neighbouring bf16 value.
    const double m = std::max(std::fabs(out[i]), std::fabs(ref[i]));
    const double ulp = m > 0.0 && std::isfinite(m) ? std::ldexp(1.0, std::ilogb(m) - 7) : 0.0;
    const double allowed = ulp + kTolF32Reduce * rms;
    if (!std::isfinite(out[i]) || d > allowed) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  }
  const auto n = static_cast<int64_t>(ref.size());
  if (bad == 0 && differ <= std::max<int64_t>(2, n / 50)) return ::testing::AssertionSuccess();
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  r << what << " " << shape_str(cpu_ref.shape()) << ": " << bad << " elements beyond one ulp, "
    << differ << " of " << n << " differ by more than the float32 order error";
  if (first >= 0)
    r << "; first at " << first << ": cuda " << out[first] << " vs cpu " << ref[first];
  return r;
}

}  // namespace kasmina::cuda_test
