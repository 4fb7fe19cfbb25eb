// Op table entry of the storage precision ops: cast_to_bf16 (CUDA against the CPU twin, bit for
// bit: both round with core/bf16.hpp) and cast_from_bf16 (every bf16 bit pattern widened, bit for
// bit). The bf16 cases of the linear ops are in
// entries_linear.cpp.
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "core/bf16.hpp"
#include "core/str_cat.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

// Random values over many binades, with the special values every cast must get right: ties in
// both directions, subnormals (including half of the smallest bf16 one), ±0, the overflow
// boundary, ±Inf and NaNs whose payload sits only in the dropped bits.
Tensor cast_inputs(int64_t n, uint64_t seed) {
  std::vector<float> v = random_f32({n}, seed, -1.0f, 1.0f).to_vector<float>();
  const uint32_t specials[] = {0x3F808000, 0x3F818000, 0xBF808000, 0x00008000, 0x00018000,
                               0x007FFFFF, 0x80018000, 0x00000000, 0x80000000, 0x7F7F7FFF,
                               0x7F7F8000, 0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x7F800001,
                               0xFFA00000, 0x7FC00000};
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % 3 == 1) v[i] *= std::ldexp(1.0f, static_cast<int>(i % 200) - 100);
    if (i % 7 == 3) std::memcpy(&v[i], &specials[(i / 7) % std::size(specials)], sizeof(float));
  }
  return Tensor::from_vector(v, {n});
}

std::vector<uint16_t> bits_of(const Tensor& t) {
  std::vector<uint16_t> out;
  for (const bf16 b : t.to(Device::cpu()).to_vector<bf16>()) out.push_back(b.bits);
  return out;
}

// n elements cast from src starting at element `offset` (an offset that is not a multiple of 4
// takes the scalar kernel; n % 4 != 0 too).
void cast_case(int64_t n, int64_t offset) {
  const Tensor src = cast_inputs(n + offset, static_cast<uint64_t>(n * 31 + offset));
  const Tensor part = src.flat_range(offset, {n});
  Tensor cpu_out = Tensor::empty({n}, DType::bf16);
  ops::cast_to_bf16(part, cpu_out);
  const Tensor gpu_src = on_gpu(src);
  Tensor gpu_out = poisoned({n + 1}, DType::bf16).flat_range(1, {n});
  ops::cast_to_bf16(gpu_src.flat_range(offset, {n}), gpu_out);
  const std::vector<uint16_t> want = bits_of(cpu_out), got = bits_of(gpu_out);
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == got[i]) continue;
    if (first < 0) first = static_cast<int64_t>(i);
    ++bad;
  }
  EXPECT_EQ(bad, 0) << "cast_to_bf16 n=" << n << " offset=" << offset << ": first at " << first
                    << ": cuda 0x" << std::hex << (first >= 0 ? got[first] : 0) << " vs cpu 0x"
                    << (first >= 0 ? want[first] : 0);
}

// n bf16 elements widened from src starting at element `offset`: src runs through every bit
// pattern (NaNs, Infs, subnormals, both zeros) from a seed-dependent start.
void widen_case(int64_t n, int64_t offset) {
  std::vector<bf16> v(static_cast<size_t>(n + offset));
  for (size_t i = 0; i < v.size(); ++i) v[i].bits = static_cast<uint16_t>(i * 7 + n);
  const Tensor src = Tensor::from_vector(v, {n + offset});
  Tensor cpu_out = Tensor::empty({n});
  ops::cast_from_bf16(src.flat_range(offset, {n}), cpu_out);
  Tensor gpu_out = poisoned({n + 4}, DType::f32).flat_range(4, {n});
  ops::cast_from_bf16(on_gpu(src).flat_range(offset, {n}), gpu_out);
  const std::vector<float> want = cpu_out.to_vector<float>();
  const std::vector<float> got = gpu_out.to(Device::cpu()).to_vector<float>();
  int64_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    bad += bit_copy<uint32_t>(want[i]) != bit_copy<uint32_t>(got[i]);
    // the widening is exact: the bits are the bf16 pattern shifted up
    bad += bit_copy<uint32_t>(want[i]) != static_cast<uint32_t>(v[i + offset].bits) << 16;
  }
  EXPECT_EQ(bad, 0) << "cast_from_bf16 n=" << n << " offset=" << offset;
}

// One case per length and start offset (the vector and the scalar kernel, aligned or not).
std::vector<op_table::OpCase> cast_cases() {
  std::vector<op_table::OpCase> out;
  for (int64_t n : {1, 7, 129, 1000, 4099, 200704}) {
    for (int64_t offset : {0, 1, 4}) {
      out.push_back({str_cat("N", n, "_off", offset), [n, offset] { cast_case(n, offset); }});
      out.push_back(
          {str_cat("widen_N", n, "_off", offset), [n, offset] { widen_case(n, offset); }});
    }
  }
  out.push_back({"widen_all_patterns", [] { widen_case(65536 * 3, 0); }});
  return out;
}

// The cast of a weight matrix, of a wide layer's activations, of a 4096 x 4096 weight.
std::vector<op_table::OpCase> cast_perf_cases() {
  std::vector<op_table::OpCase> out;
  for (int64_t n : {200704, 1048576, 16777216}) {
    out.push_back({str_cat("N", n), [n] {
                     const Device dev = op_table::perf_device();
                     const Tensor src = random_f32({n}, 1).to(dev);
                     Tensor dst = Tensor::empty({n}, DType::bf16, dev);
                     op_table::time_op(str_cat("cast_to_bf16 ", n), dev,
                                       [&] { ops::cast_to_bf16(src, dst); });
                     Tensor wide = Tensor::empty({n}, DType::f32, dev);
                     op_table::time_op(str_cat("cast_from_bf16 ", n), dev,
                                       [&] { ops::cast_from_bf16(dst, wide); });
                   }});
  }
  return out;
}

}  // namespace
}  // namespace kasmina::cuda_test

// Bit-exact CUDA against CPU (no gradient: the cast is not differentiated through).
KASMINA_OP_TABLE_ENTRY(cast_to_bf16) {
  kasmina::op_table::OpTestEntry e;
  e.ops = {"cast_to_bf16", "cast_from_bf16"};
  e.correctness = &kasmina::cuda_test::cast_cases;
  e.perf = &kasmina::cuda_test::cast_perf_cases;
  return e;
}
