// The transformer layers (nn/transformer_layers.hpp): a whole tiny ViT's gradients against
// finite differences in float64 on the CPU, attention and the patch embedding against naive
// computations, class-token pooling, shapes and rows through the model, parameter names, the
// issue's ViT's parameter count and the FLOP formula's input-gradient part.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/layers/transformer.hpp"
#include "core/rng.hpp"
#include "nn/model.hpp"
#include "nn/transformer_layers.hpp"
#include "tests/common/source_root.hpp"
#include "tests/nn/gradient_check.hpp"

using namespace kasmina;
using kasmina::testing::source_root;

using kasmina::testing::layer;

namespace {

LayerConfig patch_embed(int64_t patch, int64_t dim, bool class_token) {
  LayerConfig l(LayerType::patch_embed);
  l.as<PatchEmbedConfig>() = PatchEmbedConfig{patch, dim, class_token};
  return l;
}

LayerConfig attention(int64_t heads) {
  LayerConfig l(LayerType::attention);
  l.as<AttentionConfig>().heads = heads;
  return l;
}

LayerConfig residual(std::vector<LayerConfig> body) {
  LayerConfig l(LayerType::residual);
  l.as<ResidualConfig>().layers = std::move(body);
  return l;
}

// A pre-norm ViT: patches of `patch` -> `dim`, one attention block and one MLP block (hidden
// `mlp`), final layernorm, class-token pooling, linear `classes`.
ModelConfig tiny_vit(int64_t patch, int64_t dim, int64_t heads, int64_t mlp, int64_t classes) {
  ModelConfig cfg;
  cfg.layers = {patch_embed(patch, dim, true),
                residual({layer(LayerType::layernorm), attention(heads)}),
                residual({layer(LayerType::layernorm), layer(LayerType::linear, mlp),
                          layer(LayerType::gelu), layer(LayerType::linear, dim)}),
                layer(LayerType::layernorm),
                LayerConfig(LayerType::class_token),
                layer(LayerType::linear, classes)};
  return cfg;
}

std::vector<double> normals(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<double> v(n);
  for (double& x : v) x = scale * rng.normal();
  return v;
}

std::vector<std::string> names_of(const std::vector<Parameter*>& ps) {
  std::vector<std::string> out;
  for (const Parameter* p : ps) out.push_back(p->name);
  return out;
}

}  // namespace

TEST(TransformerGradients, TinyVitMatchesFiniteDifferences) {
  // 4x4x1 image, 2x2 patches -> 4 tokens + class token of 6; 2 heads of 3.
  const int checked = kasmina::testing::check_model_gradients(
      tiny_vit(2, 6, 2, 8, 3), SampleShape::flat_image({4, 4, 1}), 3, 11, 12, {0, 2, 1});
  // patch_embed 4*6+6+6+5*6, attention block 12+6*18+18+36+6, MLP block 12+48+8+48+6,
  // layernorm 12, head 18+3.
  EXPECT_EQ(checked, 66 + 180 + 122 + 12 + 21);
}

TEST(TransformerGradients, PatchEmbedInputGradientAndNoClassToken) {
  // A layernorm before the patch embedding needs its input gradient (patchify_backward); no
  // class token (the pooling takes the first patch's token); 3 channels, 3 heads of 2.
  ModelConfig cfg;
  cfg.layers = {layer(LayerType::layernorm), patch_embed(2, 6, false), attention(3),
                LayerConfig(LayerType::class_token), layer(LayerType::linear, 2)};
  const int checked = kasmina::testing::check_model_gradients(
      cfg, SampleShape::flat_image({4, 2, 3}), 2, 21, 22, {1, 0});
  EXPECT_EQ(checked, 48 + (12 * 6 + 6 + 2 * 6) + (6 * 18 + 18 + 36 + 6) + 14);
}

TEST(AttentionLayer, EqualsNaiveMultiHeadAttention) {
  const int64_t B = 2, T = 5, D = 8, H = 2, dh = D / H;
  AttentionLayer att("a", T, D, H, true, DType::f64);
  Rng rng(7);
  att.initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
  att.set_in_rows(T);
  att.prepare(3 * T, Device::cpu());  // room for 3 samples, run on 2
  const std::vector<double> xv = normals(static_cast<size_t>(B * T * D), 8);
  const Tensor y = att.forward(Tensor::from_vector(xv, {B * T, D}), Mode::train, StepContext{});
  ASSERT_EQ(y.shape(), (Shape{B * T, D}));
  const std::vector<double> got = y.to_vector<double>();

  const std::vector<Parameter*> ps = att.parameters();
  EXPECT_EQ(names_of(ps), (std::vector<std::string>{"a.qkv.weight", "a.qkv.bias", "a.proj.weight",
                                                    "a.proj.bias"}));
  const auto wq = ps[0]->value.to_vector<double>(), bq = ps[1]->value.to_vector<double>();
  const auto wo = ps[2]->value.to_vector<double>(), bo = ps[3]->value.to_vector<double>();

  // qkv = x Wᵀ + b per token; then per (sample, head) softmax(q kᵀ / sqrt(dh)) v; then proj.
  auto qkv = [&](int64_t b, int64_t t, int64_t j) {
    double s = bq[static_cast<size_t>(j)];
    for (int64_t k = 0; k < D; ++k)
      s += wq[static_cast<size_t>(j * D + k)] * xv[static_cast<size_t>((b * T + t) * D + k)];
    return s;
  };
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> o(static_cast<size_t>(T * D), 0.0);
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> p(static_cast<size_t>(T));
        double sum = 0.0;
        for (int64_t j = 0; j < T; ++j) {
          double s = 0.0;
          for (int64_t d = 0; d < dh; ++d) s += qkv(b, i, h * dh + d) * qkv(b, j, D + h * dh + d);
          p[static_cast<size_t>(j)] = std::exp(s / std::sqrt(static_cast<double>(dh)));
          sum += p[static_cast<size_t>(j)];
        }
        for (int64_t j = 0; j < T; ++j)
          for (int64_t d = 0; d < dh; ++d)
            o[static_cast<size_t>(i * D + h * dh + d)] +=
                p[static_cast<size_t>(j)] / sum * qkv(b, j, 2 * D + h * dh + d);
      }
    }
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t n = 0; n < D; ++n) {
        double want = bo[static_cast<size_t>(n)];
        for (int64_t k = 0; k < D; ++k)
          want += wo[static_cast<size_t>(n * D + k)] * o[static_cast<size_t>(i * D + k)];
        EXPECT_NEAR(got[static_cast<size_t>((b * T + i) * D + n)], want, 1e-12)
            << "sample " << b << " token " << i << " feature " << n;
      }
    }
  }
}

TEST(PatchEmbedLayer, EqualsNaivePatchProjectionWithTokens) {
  // A 4x6 image of 2 channels, 2x2 patches -> 2x3 patches of 8 values -> 5 features, + class.
  const int64_t B = 2, Hh = 4, W = 6, C = 2, p = 2, D = 5, T = 6;
  PatchEmbedLayer pe("pe", SampleShape::flat_image({Hh, W, C}), p, D, true, DType::f64);
  Rng rng(3);
  pe.initialize(InitScheme::kaiming_uniform, rng, Device::cpu());
  pe.set_in_rows(1);
  EXPECT_EQ(pe.out_shape(pe.in_width()), SampleShape(T + 1, D));
  const std::vector<Parameter*> ps = pe.parameters();
  EXPECT_EQ(names_of(ps),
            (std::vector<std::string>{"pe.weight", "pe.bias", "pe.cls_token", "pe.pos_embed"}));
  EXPECT_EQ(ps[2]->value.to_vector<double>(), std::vector<double>(D, 0.0));
  // Position embedding N(0, 0.02²): small, not all equal.
  const auto pos = ps[3]->value.to_vector<double>();
  ASSERT_EQ(pos.size(), static_cast<size_t>((T + 1) * D));
  for (double v : pos) EXPECT_LT(std::fabs(v), 0.1);
  EXPECT_NE(pos[0], pos[1]);
  ps[2]->value =
      Tensor::from_vector(normals(static_cast<size_t>(D), 4), {D});  // a non-zero class token

  pe.prepare(B, Device::cpu());
  const std::vector<double> xv = normals(static_cast<size_t>(B * Hh * W * C), 5);
  const Tensor y = pe.forward(Tensor::from_vector(xv, {B, Hh * W * C}), Mode::train, {});
  ASSERT_EQ(y.shape(), (Shape{B * (T + 1), D}));
  const auto got = y.to_vector<double>();
  const auto w = ps[0]->value.to_vector<double>(), bias = ps[1]->value.to_vector<double>();
  const auto cls = ps[2]->value.to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t n = 0; n < D; ++n)
      EXPECT_NEAR(got[static_cast<size_t>(b * (T + 1) * D + n)],
                  cls[static_cast<size_t>(n)] + pos[static_cast<size_t>(n)], 1e-15);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t gy = t / (W / p), gx = t % (W / p);
      for (int64_t n = 0; n < D; ++n) {
        double want = bias[static_cast<size_t>(n)] + pos[static_cast<size_t>((t + 1) * D + n)];
        for (int64_t dy = 0; dy < p; ++dy)
          for (int64_t dx = 0; dx < p; ++dx)
            for (int64_t c = 0; c < C; ++c)
              want += w[static_cast<size_t>(n * p * p * C + (dy * p + dx) * C + c)] *
                      xv[static_cast<size_t>(((b * Hh + gy * p + dy) * W + gx * p + dx) * C + c)];
        EXPECT_NEAR(got[static_cast<size_t>((b * (T + 1) + t + 1) * D + n)], want, 1e-12);
      }
    }
  }
}

TEST(ClassTokenLayer, SelectsTheFirstRowAndScattersItsGradient) {
  ClassTokenLayer ct(2, DType::f64);
  ct.set_in_rows(3);
  EXPECT_EQ(ct.out_shape(SampleShape(3, 2)), SampleShape(2));
  ct.prepare(6, Device::cpu());
  const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {6, 2});
  EXPECT_EQ(ct.forward(x, Mode::train, {}).to_vector<double>(), (std::vector<double>{1, 2, 7, 8}));
  Tensor dx = Tensor::empty({6, 2}, DType::f64);
  ops::fill(dx, 99.0);
  ct.backward(Tensor::from_vector<double>({-1, -2, -3, -4}, {2, 2}), &dx, {});
  EXPECT_EQ(dx.to_vector<double>(), (std::vector<double>{-1, -2, 0, 0, 0, 0, -3, -4, 0, 0, 0, 0}));
  EXPECT_EQ(ct.train_flops(6, true), 0.0);
}

TEST(TransformerModel, RowsAndShapesThroughTheModel) {
  // 8x8 image, 4x4 patches: 4 tokens + class token of 8 features.
  Model m(tiny_vit(4, 8, 2, 16, 10), SampleShape::flat_image({8, 8, 1}), 1, Device::cpu());
  const auto& ls = m.layers();
  ASSERT_EQ(ls.size(), 6u);
  EXPECT_EQ(ls[0]->in_rows(), 1);
  EXPECT_EQ(ls[0]->in_width(), 64);
  EXPECT_EQ(ls[0]->out_rows(), 5);
  EXPECT_EQ(ls[1]->in_rows(), 5);
  EXPECT_EQ(ls[3]->in_rows(), 5);
  EXPECT_EQ(ls[4]->in_rows(), 5);
  EXPECT_EQ(ls[4]->out_rows(), 1);
  EXPECT_EQ(ls[5]->in_rows(), 1);
  EXPECT_EQ(m.describe()[0], "patch_embed 8x8x1 / 4x4 -> 5 tokens of 8 (class token)");
  EXPECT_EQ(m.describe()[4], "class_token (8)");
  // The MLP block's linear + gelu fuse inside the block.
  EXPECT_EQ(m.describe()[2],
            "residual 8 [layernorm 8 (eps 1e-05), linear 8 -> 16 + gelu (fused), linear 16 -> 8]");
  EXPECT_EQ(m.parameter_count(), (16 * 8 + 8 + 8 + 5 * 8) + (16 + 8 * 24 + 24 + 64 + 8) +
                                     (16 + 8 * 16 + 16 + 16 * 8 + 8) + 16 + (8 * 10 + 10));
  m.prepare(4);
  const Tensor logits =
      m.forward(Tensor::from_vector(std::vector<float>(3 * 64, 0.5f), {3, 64}), Mode::eval,
                StepContext{Tensor::from_vector<int64_t>({0}, {1}), 1});
  EXPECT_EQ(logits.shape(), (Shape{3, 10}));
  for (float v : logits.to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
}

TEST(TransformerModel, IssueVitHasTheReferenceParameterCount) {
  // configs/fmnist_vit.yaml: PyTorch's reference has 805,130 parameters (MultiheadAttention's
  // in_proj 3D x D + 3D and out_proj D x D + D, a class token and 50 position embeddings).
  const Config cfg = load_config(source_root() + "/configs/fmnist_vit.yaml");
  Model m(cfg.model, dataset_shape(cfg.data).input(), cfg.seed, Device::cpu());
  EXPECT_EQ(m.parameter_count(), 805130);
  EXPECT_EQ(m.layers()[0]->out_rows(), 50);
  // The growing variant builds too, with its morphogenetic layers over the MLPs' hidden tokens.
  const Config grow = load_config(source_root() + "/configs/fmnist_vit_grow.yaml");
  Model g(grow.model, dataset_shape(grow.data).input(), grow.seed, Device::cpu());
  EXPECT_GE(g.morph_layers().size(), 1u);
}

TEST(TransformerFlops, AttentionInputGradientIsTheQkvInputGemm) {
  const int64_t T = 5, D = 8, rows = 3 * T;
  AttentionLayer att("a", T, D, 2, true);
  att.set_in_rows(T);
  // dx = dqkv · W_qkv: 2 · rows · 3D · D.
  EXPECT_DOUBLE_EQ(att.train_flops(rows, true) - att.train_flops(rows, false),
                   2.0 * rows * 3 * D * D);
  // The rest: the qkv projection forward and dW, db (2 · 2 rows D 3D + 2 rows 3D), the output
  // projection with its input gradient (3 · 2 rows D D + 2 rows D), and per (sample, head) the
  // attention: forward 4 T² dh + 5 T², backward 10 T² dh + 5 T² (B = 3, heads 2, dh 4).
  const double projections = 4.0 * rows * D * 3 * D + 2.0 * rows * 3 * D +  // qkv
                             6.0 * rows * D * D + 2.0 * rows * D;           // proj
  EXPECT_DOUBLE_EQ(att.train_flops(rows, false) - projections, 3.0 * 2 * T * T * (14 * 4 + 10));
}
