// The blueprint registry: each built-in's descriptor gives the same parameter counts, initial
// values, row forward and backward and gradient layout as the kind table the fused kernels use
// (bit for bit) and as the written-out formulas; unknown names are refused with the allowed
// list.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_registry.hpp"
#include "nn/morph_from_config.hpp"

namespace kasmina::morph {
namespace {

const std::vector<BlueprintShape> kShapes = {{4, 1, 1},    {12, 3, 2},   {16, 4, 4},
                                             {64, 32, 32}, {100, 40, 7}, {128, 64, 64}};

TEST(BlueprintRegistry, BuiltinsAreRegisteredInKindOrder) {
  EXPECT_EQ(blueprint_names(),
            (std::vector<std::string>{"residual_mlp", "low_rank", "diag_scale", "row_mlp"}));
  for (int32_t k = 0; k < kBuiltinBlueprintCount; ++k) {
    const BlueprintDescriptor* d = find_blueprint(k);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->kind, k);
    EXPECT_EQ(d->name, kBuiltinBlueprintNames[k]);
    EXPECT_EQ(d->path, BlueprintPath::row);
    EXPECT_TRUE(d->in_fused_kernels);
    EXPECT_EQ(d->module, nullptr);
    EXPECT_EQ(find_blueprint(d->name), d);
    EXPECT_STREQ(blueprint_name(static_cast<BlueprintKind>(k)), kBuiltinBlueprintNames[k]);
    BlueprintKind parsed;
    ASSERT_TRUE(parse_blueprint(kBuiltinBlueprintNames[k], &parsed));
    EXPECT_EQ(static_cast<int32_t>(parsed), k);
  }
  // row_mlp: built in, computed by the GEMM path (the row group), not by the fused kernels; its
  // size and initial values are in the kind table (the lifecycle kernel initialises its slots).
  const BlueprintDescriptor* row = find_blueprint(kRowMlpKind);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->name, "row_mlp");
  EXPECT_EQ(row->path, BlueprintPath::gemm);
  EXPECT_FALSE(row->in_fused_kernels);
  EXPECT_FALSE(row->affine);
  EXPECT_EQ(row->module, nullptr);
  const BlueprintShape sh{8, 5, 3, 24};
  EXPECT_EQ(row->param_count(*row, sh), 5 * 24 + 5 + 8 * 5 + 8);
  EXPECT_EQ(blueprint_param_count(kRowMlpKind, sh), row->param_count(*row, sh));
  GradBlock blocks[kMaxGradBlocks];
  const int32_t nb = row->grad_blocks(*row, sh, blocks);
  int32_t total = 0;
  for (int32_t k = 0; k < nb; ++k) total += blocks[k].size();
  EXPECT_EQ(total, row->param_count(*row, sh));
  for (int32_t i = 0; i < row->param_count(*row, sh); ++i) {
    const float v = row->init_value(*row, sh, i, 11, 2, 3);
    EXPECT_EQ(v, blueprint_init_value(kRowMlpKind, sh, i, 11, 2, 3)) << i;
    if (i < 5 * 24)
      EXPECT_LE(std::fabs(v), 1.0f / std::sqrt(24.0f)) << i;  // W1 ~ U(+-1/sqrt(H))
    else
      EXPECT_EQ(v, 0.0f) << i;  // b1, W2, b2: function-preserving
  }
  EXPECT_EQ(find_blueprint(-1), nullptr);
  EXPECT_EQ(find_blueprint(kMaxBlueprintKinds), nullptr);
}

TEST(BlueprintRegistry, UnknownNamesAreRefusedWithTheAllowedList) {
  BlueprintKind k;
  EXPECT_FALSE(parse_blueprint("mlp", &k));
  EXPECT_FALSE(parse_blueprint(nullptr, &k));
  EXPECT_EQ(find_blueprint(std::string("mlp")), nullptr);
  try {
    blueprint_named("mlp");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "unknown blueprint 'mlp' (allowed: residual_mlp, low_rank, diag_scale, row_mlp)");
  }
  EXPECT_THROW(blueprint_of("Residual_MLP"), UserError);
  EXPECT_EQ(blueprint_of("low_rank"), BlueprintKind::low_rank);
}

TEST(BlueprintRegistry, SizesMatchTheFormulasAndTheKindTable) {
  for (const BlueprintShape& sh : kShapes) {
    const int32_t C = sh.chunk, h = sh.hidden, r = sh.rank;
    const int32_t expect_params[] = {2 * h * C + h + C, 2 * r * C, 2 * C};
    const int32_t expect_factors[] = {1 + 2 * C + 2 * h, 1 + 2 * C + 2 * r, 1 + 2 * C};
    for (int32_t k = 0; k < kBuiltinBlueprintCount; ++k) {
      const BlueprintDescriptor& d = *find_blueprint(k);
      EXPECT_EQ(d.param_count(d, sh), expect_params[k]) << d.name << " C=" << C;
      EXPECT_EQ(blueprint_param_count(k, sh), expect_params[k]) << d.name << " C=" << C;
      EXPECT_EQ(d.factor_count(d, sh), expect_factors[k]) << d.name;
      EXPECT_EQ(blueprint_factor_count(k, sh), expect_factors[k]) << d.name;
      EXPECT_LE(expect_factors[k], kMaxFactors);
      GradBlock a[kMaxGradBlocks], b[kMaxGradBlocks];
      const int32_t na = d.grad_blocks(d, sh, a), nb = blueprint_grad_blocks(k, sh, b);
      ASSERT_EQ(na, nb);
      int32_t total = 0;
      for (int32_t i = 0; i < na; ++i) {
        EXPECT_EQ(a[i].a0, b[i].a0);
        EXPECT_EQ(a[i].na, b[i].na);
        EXPECT_EQ(a[i].b0, b[i].b0);
        EXPECT_EQ(a[i].nb, b[i].nb);
        EXPECT_EQ(a[i].diag, b[i].diag);
        total += a[i].size();
      }
      EXPECT_EQ(total, expect_params[k]) << d.name;
    }
  }
}

TEST(BlueprintRegistry, InitialValuesMatchTheKindTableAndTheirRanges) {
  for (const BlueprintShape& sh : kShapes) {
    for (int32_t k = 0; k < kBuiltinBlueprintCount; ++k) {
      const BlueprintDescriptor& d = *find_blueprint(k);
      const int32_t n = d.param_count(d, sh);
      for (int32_t i = 0; i < n; ++i) {
        const float v = d.init_value(d, sh, i, 0x1234567890abcdefull, 2, 5);
        EXPECT_EQ(v, blueprint_init_value(k, sh, i, 0x1234567890abcdefull, 2, 5)) << d.name;
        const float u = init_uniform(i, 0x1234567890abcdefull, 2, 5);
        ASSERT_TRUE(u >= -1.0f && u < 1.0f);
        if (k == static_cast<int32_t>(BlueprintKind::diag_scale)) {
          EXPECT_EQ(v, 0.0f);  // s = t = 0: the identity
        } else if (k == static_cast<int32_t>(BlueprintKind::low_rank)) {
          const bool a = i < sh.rank * sh.chunk;  // A random, B zero (function-preserving)
          EXPECT_EQ(v, a ? u / std::sqrt(float(sh.chunk)) : 0.0f);
        } else {
          const bool w1 = i < sh.hidden * sh.chunk;  // W1 random; b1, W2, b2 zero
          EXPECT_EQ(v, w1 ? u / std::sqrt(float(sh.chunk)) : 0.0f);
        }
      }
    }
  }
}

// delta and its backward written out in double, straight from the formulas.
void reference_row(int32_t kind, const BlueprintShape& sh, const std::vector<double>& p,
                   const std::vector<double>& x, const std::vector<double>& g,
                   std::vector<double>& delta, std::vector<double>& dx) {
  const int32_t C = sh.chunk;
  delta.assign(C, 0.0);
  dx.assign(C, 0.0);
  auto gelu = [](double v, double* d) {
    const double k = 0.7978845608028654, c = 0.044715, t = std::tanh(k * (v + c * v * v * v));
    *d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * c * v * v);
    return 0.5 * v * (1 + t);
  };
  if (kind == 0) {
    const int32_t h = sh.hidden;
    const double *W1 = p.data(), *b1 = W1 + h * C, *W2 = b1 + h, *b2 = W2 + C * h;
    for (int32_t c = 0; c < C; ++c) delta[c] = b2[c];
    for (int32_t j = 0; j < h; ++j) {
      double pre = b1[j], da = 0.0, dg;
      for (int32_t c = 0; c < C; ++c) pre += W1[j * C + c] * x[c];
      const double a = gelu(pre, &dg);
      for (int32_t c = 0; c < C; ++c) {
        delta[c] += W2[c * h + j] * a;
        da += W2[c * h + j] * g[c];
      }
      for (int32_t c = 0; c < C; ++c) dx[c] += W1[j * C + c] * da * dg;
    }
  } else if (kind == 1) {
    const int32_t r = sh.rank;
    const double *A = p.data(), *B = A + r * C;
    for (int32_t j = 0; j < r; ++j) {
      double u = 0.0, du = 0.0;
      for (int32_t c = 0; c < C; ++c) {
        u += A[j * C + c] * x[c];
        du += B[c * r + j] * g[c];
      }
      for (int32_t c = 0; c < C; ++c) {
        delta[c] += B[c * r + j] * u;
        dx[c] += A[j * C + c] * du;
      }
    }
  } else {
    for (int32_t c = 0; c < C; ++c) {
      delta[c] = x[c] * p[c] + p[C + c];
      dx[c] = g[c] * p[c];
    }
  }
}

template <class T>
void check_rows(const BlueprintDescriptor& d, const BlueprintShape& sh, Rng& rng) {
  const int32_t k = d.kind, C = sh.chunk, n = d.param_count(d, sh), nf = d.factor_count(d, sh);
  std::vector<T> p(n), x(C), g(C);
  for (T& v : p) v = static_cast<T>(rng.normal() * 0.3);
  for (T& v : x) v = static_cast<T>(rng.normal());
  for (T& v : g) v = static_cast<T>(rng.normal());
  std::vector<T> delta_d(C, T(7)), delta_k(C, T(9)), dx_d(C, T(0.5)), dx_k(C, T(0.5));
  std::vector<T> F_d(kMaxFactors, T(0)), F_k(kMaxFactors, T(0));
  d.row<T>().delta(d, sh, p.data(), x.data(), delta_d.data());
  blueprint_delta<kMaxChunk, T>(k, sh, p.data(), x.data(), delta_k.data());
  d.row<T>().backward(d, sh, p.data(), x.data(), g.data(), dx_d.data(), F_d.data());
  blueprint_backward<kMaxChunk, T>(k, sh, p.data(), x.data(), g.data(), dx_k.data(), F_k.data());
  EXPECT_EQ(delta_d, delta_k) << d.name << " C=" << C;  // bit for bit
  EXPECT_EQ(dx_d, dx_k) << d.name << " C=" << C;
  EXPECT_EQ(F_d, F_k) << d.name << " C=" << C;
  // Against the formulas (in double).
  std::vector<double> pd(p.begin(), p.end()), xd(x.begin(), x.end()), gd(g.begin(), g.end());
  std::vector<double> delta_r, dx_r;
  reference_row(k, sh, pd, xd, gd, delta_r, dx_r);
  const double tol = sizeof(T) == 4 ? 1e-4 : 1e-12;
  for (int32_t c = 0; c < C; ++c) {
    EXPECT_NEAR(delta_d[c], delta_r[c], tol * (1 + std::fabs(delta_r[c]))) << d.name << " " << c;
    EXPECT_NEAR(dx_d[c] - T(0.5), dx_r[c], tol * (1 + std::fabs(dx_r[c]))) << d.name << " " << c;
  }
  // The gradient from the factors: each parameter's pair of factors.
  EXPECT_EQ(F_d[0], T(1));
  for (int32_t c = 0; c < C; ++c) {
    EXPECT_EQ(F_d[1 + c], x[c]);
    EXPECT_EQ(F_d[1 + C + c], g[c]);
  }
  GradBlock blocks[kMaxGradBlocks];
  const int32_t nb = d.grad_blocks(d, sh, blocks);
  std::vector<T> dp(n, T(0));
  add_grad_of<T>(blocks, nb, F_d.data(), dp.data());
  for (int32_t i = 0; i < n; ++i) {
    const GradTerm t = blueprint_grad_term(k, sh, i);
    ASSERT_LT(t.a, nf);
    ASSERT_LT(t.b, nf);
    EXPECT_EQ(dp[i], F_d[t.a] * F_d[t.b]) << d.name << " param " << i;
  }
}

TEST(BlueprintRegistry, RowForwardAndBackwardMatchTheKindTableAndTheFormulas) {
  Rng rng(20261202);
  for (const BlueprintShape& sh : kShapes) {
    for (int32_t k = 0; k < kBuiltinBlueprintCount; ++k) {
      check_rows<float>(*find_blueprint(k), sh, rng);
      check_rows<double>(*find_blueprint(k), sh, rng);
    }
  }
}

TEST(BlueprintRegistry, LimitsAreConsistent) {
  EXPECT_TRUE(chunk_supported(1));
  EXPECT_TRUE(chunk_supported(kRowChunk));
  EXPECT_TRUE(chunk_supported(kMaxChunk));
  EXPECT_TRUE(chunk_supported(100));
  EXPECT_FALSE(chunk_supported(98));  // above the row limit and not a multiple of 4
  EXPECT_FALSE(chunk_supported(kMaxChunk + 4));
  EXPECT_FALSE(chunk_supported(0));
  EXPECT_EQ(MorphConfig{}.hidden, kDefaultHidden);
  EXPECT_EQ(MorphConfig{}.rank, kDefaultRank);
  EXPECT_EQ(MorphConfig{}.allowed_blueprints.size(), static_cast<size_t>(kBuiltinBlueprintCount));
}

}  // namespace
}  // namespace kasmina::morph
