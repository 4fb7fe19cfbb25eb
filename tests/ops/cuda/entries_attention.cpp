// Op table entry of multi-head self-attention (forward + backward): CUDA against the CPU twin
// over token counts that cross the kernels' steps (1, 7, 32/33 and 128/129: threads per row of
// attention_rows.cu; 64/65, 129, 197, 256: keys per lane of the two-kernel backward), head
// dimensions 7 (odd pitch), 8, 16, 24, 32, 63 and 64 (padded to 8, 16, 32, 64) and batches 1 to
// 128, including the largest shared-memory configuration (T 256, dh 64: above the 48 KiB
// default). On an H200 the backward runs as one kernel per head up to T 128 at dh 32 (T 65 at
// dh 63 above 48 KiB) and as two kernels for T 129, 197 and 256; the backward also twice,
// bitwise equal (no atomics). Gradients: finite differences in float64. The entry attention_bf16
// runs the same cases on bf16 activations (lse float32): each stored value within one bf16 ulp
// of the CPU twin's (its float32 sums differ in order from the twin's double ones, which moves a
// rounding boundary for a few elements), at most 2% differing (within_one_ulp), lse within
// kTolF32Reduce, and the backward run to run bitwise.
#include <string>
#include <vector>

#include "ops/transformer_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

struct AttnCase {
  int64_t batch, tokens, heads, head_dim;
};

std::string attn_name(const AttnCase& c) {
  return op_table::dims({{"B", c.batch}, {"T", c.tokens}, {"H", c.heads}, {"dh", c.head_dim}});
}

Shape qkv_shape(const AttnCase& c) {
  return {c.batch, c.tokens, 3 * c.heads * c.head_dim};
}

// Tolerance of both directions in float32: relative L2 error 1e-4 (kTolF32Reduce). Each output
// element is a float32 sum of at most 256 products (dot products of <= 64 terms inside), an exp
// and, for the backward, a second such sum; float32 rounding of sums of n terms grows like
// sqrt(n)·6e-8, about 1e-6 here, so 1e-4 leaves two orders of magnitude while a wrong index or a
// missed key shows errors of order 1. bf16 activations (file comment): the CPU twin on the same
// bf16 inputs is the reference, each stored value within one bf16 ulp of it.
void attention_case_of(const AttnCase& c, DType dt) {
  const bool half = dt == DType::bf16;
  const auto as = [&](const Tensor& f32) { return half ? ops::bf16_test::to_bf16(f32) : f32; };
  const auto agree = [&](const std::string& what, const Tensor& gpu, const Tensor& cpu) {
    return half ? within_one_ulp(what, gpu, cpu) : close(what, gpu, cpu, kTolF32Reduce);
  };
  const uint64_t s =
      static_cast<uint64_t>(c.batch * 7919 + c.tokens * 31 + c.head_dim) + (half ? 10 : 0);
  const Tensor qkv = as(random_f32(qkv_shape(c), s + 1, -2.0f, 2.0f));
  const Shape out_shape{c.batch, c.tokens, c.heads * c.head_dim};
  const Shape lse_shape{c.batch, c.heads, c.tokens};
  const Tensor dout = as(random_f32(out_shape, s + 2));
  Tensor out_cpu = Tensor::empty(out_shape, dt), lse_cpu = Tensor::empty(lse_shape);
  ops::attention_forward(qkv, c.heads, out_cpu, lse_cpu);
  Tensor dqkv_cpu = Tensor::empty(qkv_shape(c), dt);
  ops::attention_backward(dout, qkv, lse_cpu, c.heads, dqkv_cpu);

  const std::string what = std::string(half ? "attention bf16 " : "attention ") + attn_name(c);
  const Tensor qkv_gpu = on_gpu(qkv);
  Tensor out_gpu = poisoned(out_shape, dt), lse_gpu = poisoned(lse_shape, DType::f32);
  ops::attention_forward(qkv_gpu, c.heads, out_gpu, lse_gpu);
  EXPECT_TRUE(agree(what + " out", out_gpu, out_cpu));
  EXPECT_TRUE(close(what + " lse", lse_gpu, lse_cpu, kTolF32Reduce));

  // The backward from the CPU's lse, so only the backward kernels are compared.
  const Tensor dout_gpu = on_gpu(dout), lse_ref = on_gpu(lse_cpu);
  Tensor dqkv_gpu = poisoned(qkv_shape(c), dt);
  ops::attention_backward(dout_gpu, qkv_gpu, lse_ref, c.heads, dqkv_gpu);
  EXPECT_TRUE(agree(what + " dqkv", dqkv_gpu, dqkv_cpu));
  Tensor again = poisoned(qkv_shape(c), dt);
  ops::attention_backward(dout_gpu, qkv_gpu, lse_ref, c.heads, again);
  EXPECT_TRUE(bitwise_equal(what + " dqkv run to run", again, dqkv_gpu));
}

void attention_case(const AttnCase& c) {
  attention_case_of(c, DType::f32);
}

void attention_bf16_case(const AttnCase& c) {
  attention_case_of(c, DType::bf16);
}

std::vector<AttnCase> attention_cases() {
  return {{1, 1, 1, 8},    {128, 1, 4, 32}, {1, 7, 2, 8},   {3, 7, 1, 32},    {3, 13, 3, 7},
          {2, 32, 2, 16},  {5, 33, 2, 64},  {1, 50, 4, 32}, {128, 50, 4, 32}, {128, 50, 2, 64},
          {7, 50, 16, 8},  {2, 64, 1, 24},  {2, 65, 2, 63}, {2, 128, 2, 32},  {4, 129, 1, 32},
          {2, 197, 3, 64}, {1, 256, 2, 64}, {3, 256, 4, 8}};
}

// ---- gradients (float64, CPU) ----

// attention_backward's dqkv against central differences of Σ r ⊙ attention_forward(qkv).
void attention_gradient(const AttnCase& c) {
  Rng rng(900 + static_cast<uint64_t>(c.tokens * 17 + c.head_dim * 5 + c.heads));
  Tensor qkv = op_table::random_f64(rng, qkv_shape(c), -1.5, 1.5);
  const Shape out_shape{c.batch, c.tokens, c.heads * c.head_dim};
  const Tensor r = op_table::random_f64(rng, out_shape);
  Tensor out = Tensor::empty(out_shape, DType::f64);
  Tensor lse = Tensor::empty({c.batch, c.heads, c.tokens}, DType::f64);
  const auto loss = [&] {
    ops::attention_forward(qkv, c.heads, out, lse);
    return op_table::weighted_sum(out, r);
  };
  loss();
  Tensor dqkv = Tensor::empty(qkv_shape(c), DType::f64);
  ops::attention_backward(r, qkv, lse, c.heads, dqkv);
  const double largest = op_table::expect_gradient(
      op_table::values(dqkv), op_table::numeric_gradient(qkv, loss), "dqkv " + attn_name(c));
  EXPECT_GT(largest, 1e-2);
}

std::vector<op_table::OpCase> attention_gradient_cases() {
  return op_table::cases_over(
      std::vector<AttnCase>{{1, 1, 1, 2}, {2, 3, 1, 4}, {1, 5, 2, 3}, {2, 4, 2, 2}, {1, 6, 3, 1}},
      &attn_name, &attention_gradient);
}

// The ViT of the issue: B 128, T 50 (49 patches + class token), D 128, 4 heads; activations of
// type `dt` (float32 or bf16; lse float32).
void attention_perf_of(DType dt) {
  const Device dev = op_table::perf_device();
  const AttnCase c{128, 50, 4, 32};
  const auto as = [&](const Tensor& f32) {
    return (dt == DType::bf16 ? ops::bf16_test::to_bf16(f32) : f32).to(dev);
  };
  const Tensor qkv = as(random_f32(qkv_shape(c), 1));
  const Shape out_shape{c.batch, c.tokens, c.heads * c.head_dim};
  const Tensor dout = as(random_f32(out_shape, 2));
  Tensor out = Tensor::empty(out_shape, dt, dev);
  Tensor lse = Tensor::empty({c.batch, c.heads, c.tokens}, DType::f32, dev);
  Tensor dqkv = Tensor::empty(qkv_shape(c), dt, dev);
  const std::string tag = std::string(" B128 T50 D128 H4 ") + dtype_name(dt);
  op_table::time_op("attention_forward" + tag, dev,
                    [&] { ops::attention_forward(qkv, c.heads, out, lse); });
  op_table::time_op("attention_backward" + tag, dev,
                    [&] { ops::attention_backward(dout, qkv, lse, c.heads, dqkv); });
}

void attention_perf() {
  attention_perf_of(DType::f32);
}

void attention_bf16_perf() {
  attention_perf_of(DType::bf16);
}

}  // namespace

// The entry, registered from the cuda_test namespace (the macro names the op table's types in
// full).
KASMINA_OP_TABLE_ENTRY(attention) {
  op_table::OpTestEntry e;
  e.ops = e.grad_ops = {"attention_forward", "attention_backward"};
  e.correctness = [] {
    return op_table::cases_over(attention_cases(), &attn_name, &attention_case);
  };
  e.gradients = &attention_gradient_cases;
  e.perf = [] { return std::vector<op_table::OpCase>{{"B128_T50_D128_H4", &attention_perf}}; };
  return e;
}

KASMINA_OP_TABLE_ENTRY(attention_bf16) {
  op_table::OpTestEntry e;
  e.ops = {"attention_forward", "attention_backward"};
  e.correctness = [] {
    return op_table::cases_over(attention_cases(), &attn_name, &attention_bf16_case);
  };
  e.perf = [] { return std::vector<op_table::OpCase>{{"B128_T50_D128_H4", &attention_bf16_perf}}; };
  return e;
}

}  // namespace kasmina::cuda_test
