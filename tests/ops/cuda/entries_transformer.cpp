// Op table entries of the token plumbing of a ViT: patchify (forward and backward: permutations,
// compared exactly), class token + position embedding (forward exact: one addition per element;
// backward: dx exact, the column sums dpos/dcls to kTolF32Reduce) and class-token selection
// (exact). Gradients of all three by finite differences in float64.
#include <functional>
#include <string>
#include <vector>

#include "ops/transformer_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

using namespace op_table;  // NOLINT: the case and gradient helpers

// ---- patchify ----

struct PatchCase {
  int64_t batch, height, width, channels, patch;
  int64_t tokens() const { return (height / patch) * (width / patch); }
  Shape img() const { return {batch, height, width, channels}; }
  Shape patches() const { return {batch, tokens(), patch * patch * channels}; }
};

std::string patch_name(const PatchCase& c) {
  return dims({{"B", c.batch}, {"H", c.height}, {"W", c.width}, {"C", c.channels}, {"p", c.patch}});
}

void patchify_case(const PatchCase& c) {
  const Tensor img = random_f32(c.img(), 41 + static_cast<uint64_t>(c.batch * c.height));
  const Tensor dp = random_f32(c.patches(), 42 + static_cast<uint64_t>(c.width));
  Tensor p_cpu = Tensor::empty(c.patches()), di_cpu = Tensor::empty(c.img());
  ops::patchify_forward(img, c.patch, p_cpu);
  ops::patchify_backward(dp, c.patch, di_cpu);
  Tensor p_gpu = poisoned(c.patches(), DType::f32), di_gpu = poisoned(c.img(), DType::f32);
  ops::patchify_forward(on_gpu(img), c.patch, p_gpu);
  ops::patchify_backward(on_gpu(dp), c.patch, di_gpu);
  EXPECT_TRUE(same("patchify_forward " + patch_name(c), p_gpu, p_cpu));
  EXPECT_TRUE(same("patchify_backward " + patch_name(c), di_gpu, di_cpu));
}

const std::vector<PatchCase>& patch_cases() {
  static const std::vector<PatchCase> v = {
      {1, 4, 4, 1, 4},   {2, 28, 28, 1, 4}, {128, 28, 28, 1, 4}, {3, 6, 9, 3, 3},
      {2, 32, 32, 3, 4}, {1, 5, 5, 2, 1},   {7, 28, 28, 1, 7},   {2, 8, 12, 5, 2}};
  return v;
}

// For an op linear in its one input: backward(r) against central differences of
// Σ r ⊙ forward(x), x and r random in float64.
void linear_op_gradient(uint64_t seed, const Shape& in, const Shape& out,
                        const std::function<void(const Tensor&, Tensor&)>& forward,
                        const std::function<void(const Tensor&, Tensor&)>& backward,
                        const std::string& what) {
  Rng rng(seed);
  Tensor x = random_f64(rng, in);
  const Tensor r = random_f64(rng, out);
  Tensor y = Tensor::empty(out, DType::f64), dx = Tensor::empty(in, DType::f64);
  const auto loss = [&] {
    forward(x, y);
    return weighted_sum(y, r);
  };
  backward(r, dx);
  EXPECT_GT(expect_gradient(values(dx), numeric_gradient(x, loss), what), 1e-2);
}

void patchify_gradient(const PatchCase& c) {
  linear_op_gradient(
      1100 + static_cast<uint64_t>(c.height * 7 + c.patch), c.img(), c.patches(),
      [&](const Tensor& x, Tensor& y) { ops::patchify_forward(x, c.patch, y); },
      [&](const Tensor& dy, Tensor& dx) { ops::patchify_backward(dy, c.patch, dx); },
      "dimg " + patch_name(c));
}

// ---- class token + position embedding ----

struct TokenCase {
  int64_t batch, tokens, width;
  bool cls;
  int64_t out_tokens() const { return tokens + (cls ? 1 : 0); }
};

std::string token_name(const TokenCase& c) {
  return dims({{"B", c.batch}, {"T", c.tokens}, {"D", c.width}}) + (c.cls ? "_cls" : "_nocls");
}

void tokens_case(const TokenCase& c) {
  const uint64_t s = static_cast<uint64_t>(c.batch * 131 + c.tokens * 7 + c.width);
  const Shape x_shape{c.batch, c.tokens, c.width}, y_shape{c.batch, c.out_tokens(), c.width};
  const Shape pos_shape{c.out_tokens(), c.width};
  const Tensor x = random_f32(x_shape, s + 1), pos = random_f32(pos_shape, s + 2);
  const Tensor cls = c.cls ? random_f32({c.width}, s + 3) : Tensor();
  const Tensor dy = random_f32(y_shape, s + 4);
  Tensor y_cpu = Tensor::empty(y_shape), dx_cpu = Tensor::empty(x_shape);
  Tensor dpos_cpu = Tensor::empty(pos_shape), dcls_cpu = Tensor::empty({c.width});
  ops::tokens_assemble_forward(x, cls, pos, y_cpu);
  ops::tokens_assemble_backward(dy, dx_cpu, c.cls ? &dcls_cpu : nullptr, dpos_cpu);

  const std::string what = "tokens_assemble " + token_name(c);
  Tensor y_gpu = poisoned(y_shape, DType::f32), dx_gpu = poisoned(x_shape, DType::f32);
  Tensor dpos_gpu = poisoned(pos_shape, DType::f32), dcls_gpu = poisoned({c.width}, DType::f32);
  ops::tokens_assemble_forward(on_gpu(x), c.cls ? on_gpu(cls) : Tensor(), on_gpu(pos), y_gpu);
  ops::tokens_assemble_backward(on_gpu(dy), dx_gpu, c.cls ? &dcls_gpu : nullptr, dpos_gpu);
  EXPECT_TRUE(same(what + " y", y_gpu, y_cpu));
  EXPECT_TRUE(same(what + " dx", dx_gpu, dx_cpu));
  // Column sums over up to 1000 rows in float32 (chunked, fixed order) against double sums.
  EXPECT_TRUE(close(what + " dpos", dpos_gpu, dpos_cpu, kTolF32Reduce));
  if (c.cls) {
    EXPECT_TRUE(close(what + " dcls", dcls_gpu, dcls_cpu, kTolF32Reduce));
  }
}

const std::vector<TokenCase>& token_cases() {
  static const std::vector<TokenCase> v = {
      {1, 1, 1, true},       {1, 1, 1, false}, {2, 49, 128, true}, {128, 49, 128, true},
      {128, 50, 128, false}, {3, 7, 33, true}, {1000, 4, 5, true}, {7, 3, 129, false}};
  return v;
}

void tokens_gradient(const TokenCase& c) {
  Rng rng(1200 + static_cast<uint64_t>(c.batch * 5 + c.tokens * 3 + c.width));
  Tensor x = random_f64(rng, {c.batch, c.tokens, c.width});
  Tensor pos = random_f64(rng, {c.out_tokens(), c.width});
  Tensor cls = c.cls ? random_f64(rng, {c.width}) : Tensor();
  const Tensor r = random_f64(rng, {c.batch, c.out_tokens(), c.width});
  Tensor y = Tensor::empty(r.shape(), DType::f64);
  const auto loss = [&] {
    ops::tokens_assemble_forward(x, cls, pos, y);
    return weighted_sum(y, r);
  };
  Tensor dx = Tensor::empty(x.shape(), DType::f64), dpos = Tensor::empty(pos.shape(), DType::f64);
  Tensor dcls = Tensor::empty({c.width}, DType::f64);
  ops::tokens_assemble_backward(r, dx, c.cls ? &dcls : nullptr, dpos);
  const std::string n = token_name(c);
  EXPECT_GT(expect_gradient(values(dx), numeric_gradient(x, loss), "dx " + n), 1e-2);
  EXPECT_GT(expect_gradient(values(dpos), numeric_gradient(pos, loss), "dpos " + n), 1e-2);
  if (c.cls) {
    EXPECT_GT(expect_gradient(values(dcls), numeric_gradient(cls, loss), "dcls " + n), 1e-2);
  }
}

// ---- class-token selection ----

struct SelectCase {
  int64_t batch, tokens, width, token;
};

std::string select_name(const SelectCase& c) {
  return dims({{"B", c.batch}, {"T", c.tokens}, {"D", c.width}, {"tok", c.token}});
}

void select_case(const SelectCase& c) {
  const Shape seq{c.batch, c.tokens, c.width}, row{c.batch, c.width};
  const Tensor x = random_f32(seq, 51 + static_cast<uint64_t>(c.tokens));
  const Tensor dy = random_f32(row, 52 + static_cast<uint64_t>(c.width));
  Tensor y_cpu = Tensor::empty(row), dx_cpu = Tensor::empty(seq);
  ops::select_token_forward(x, c.token, y_cpu);
  ops::select_token_backward(dy, c.token, dx_cpu);
  Tensor y_gpu = poisoned(row, DType::f32), dx_gpu = poisoned(seq, DType::f32);
  ops::select_token_forward(on_gpu(x), c.token, y_gpu);
  ops::select_token_backward(on_gpu(dy), c.token, dx_gpu);
  EXPECT_TRUE(same("select_token_forward " + select_name(c), y_gpu, y_cpu));
  EXPECT_TRUE(same("select_token_backward " + select_name(c), dx_gpu, dx_cpu));
}

void select_gradient(const SelectCase& c) {
  linear_op_gradient(
      1300 + static_cast<uint64_t>(c.tokens * 11 + c.token), {c.batch, c.tokens, c.width},
      {c.batch, c.width},
      [&](const Tensor& x, Tensor& y) { ops::select_token_forward(x, c.token, y); },
      [&](const Tensor& dy, Tensor& dx) { ops::select_token_backward(dy, c.token, dx); },
      "dx " + select_name(c));
}

// ---- perf: the ViT of the issue (B 128, 28x28x1 images, 4x4 patches, D 128) ----

void tokens_perf() {
  const Device dev = perf_device();
  const int64_t b = 128, t = 49, d = 128;
  const Tensor img = random_f32({b, 28, 28, 1}, 1).to(dev);
  Tensor patches = Tensor::empty({b, t, 16}, DType::f32, dev);
  const Tensor x = random_f32({b, t, d}, 2).to(dev), cls = random_f32({d}, 3).to(dev);
  const Tensor pos = random_f32({t + 1, d}, 4).to(dev);
  Tensor y = Tensor::empty({b, t + 1, d}, DType::f32, dev),
         dx = Tensor::empty(x.shape(), DType::f32, dev);
  Tensor dpos = Tensor::empty(pos.shape(), DType::f32, dev),
         dcls = Tensor::empty({d}, DType::f32, dev);
  Tensor row = Tensor::empty({b, d}, DType::f32, dev);
  time_op("patchify_forward B128 28x28x1 p4", dev, [&] { ops::patchify_forward(img, 4, patches); });
  time_op("tokens_assemble_forward B128 T49+1 D128", dev,
          [&] { ops::tokens_assemble_forward(x, cls, pos, y); });
  time_op("tokens_assemble_backward B128 T49+1 D128", dev,
          [&] { ops::tokens_assemble_backward(y, dx, &dcls, dpos); });
  time_op("select_token_forward B128 T50 D128", dev, [&] { ops::select_token_forward(y, 0, row); });
  time_op("select_token_backward B128 T50 D128", dev,
          [&] { ops::select_token_backward(row, 0, y); });
}

// An entry over two ops (forward, backward) whose correctness and gradient cases are lists of
// one case type C, named by `name`.
template <class C>
op_table::OpTestEntry paired_entry(const char* forward, const char* backward,
                                   std::vector<C> correct, void (*run)(const C&),
                                   std::vector<C> grads, void (*grad)(const C&),
                                   std::string (*name)(const C&)) {
  op_table::OpTestEntry e;
  e.ops = e.grad_ops = {forward, backward};
  e.correctness = [=] { return cases_over(correct, name, run); };
  e.gradients = [=] { return cases_over(grads, name, grad); };
  return e;
}

}  // namespace

// Permutations: CUDA equals the CPU exactly; the backward is checked as a linear op's.
KASMINA_OP_TABLE_ENTRY(patchify) {
  op_table::OpTestEntry e = paired_entry<PatchCase>(
      "patchify_forward", "patchify_backward", patch_cases(), &patchify_case,
      {{1, 4, 4, 1, 2}, {2, 6, 3, 2, 3}}, &patchify_gradient, &patch_name);
  e.perf = [] { return std::vector<op_table::OpCase>{{"vit_tokens", &tokens_perf}}; };
  return e;
}

KASMINA_OP_TABLE_ENTRY(tokens_assemble) {
  return paired_entry<TokenCase>(
      "tokens_assemble_forward", "tokens_assemble_backward", token_cases(), &tokens_case,
      {{2, 3, 4, true}, {3, 2, 5, false}, {1, 1, 3, true}}, &tokens_gradient, &token_name);
}

KASMINA_OP_TABLE_ENTRY(select_token) {
  return paired_entry<SelectCase>("select_token_forward", "select_token_backward",
                                  {{1, 1, 1, 0}, {128, 50, 128, 0}, {3, 7, 33, 6}, {2, 5, 4, 2}},
                                  &select_case, {{2, 3, 4, 0}, {3, 4, 2, 3}}, &select_gradient,
                                  &select_name);
}

}  // namespace kasmina::cuda_test
