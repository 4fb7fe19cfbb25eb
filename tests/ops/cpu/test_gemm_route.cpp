// The choice between cuBLASLt and the own small GEMM per linear op and shape
// (ops/gemm_route.hpp): the default rule, the measured table and a forced path.
#include <gtest/gtest.h>

#include <array>

#include "core/error.hpp"
#include "ops/gemm_route.hpp"

namespace kasmina::ops {
namespace {

constexpr std::span<const GemmRoute> kNoTable{};

GemmShape shape(LinearGemm op, int64_t rows, int64_t in, int64_t out,
                Activation act = Activation::none) {
  return GemmShape{op, rows, in, out, act};
}

TEST(GemmRoute, OwnKernelsSuitTheReferenceMlpButTheDefaultIsCublasLt) {
  // Every GEMM of the 784-256-128-10 step at batch 128 and 256: a candidate for the own kernels,
  // run on cuBLASLt by default (the whole step measured slower with the own kernels).
  for (int64_t batch : {128, 256}) {
    for (const auto& [in, out] : {std::pair{784, 256}, {256, 128}, {128, 10}}) {
      for (LinearGemm op :
           {LinearGemm::forward, LinearGemm::backward_input, LinearGemm::backward_weight}) {
        const GemmShape s = shape(op, batch, in, out, Activation::relu);
        EXPECT_TRUE(own_gemm_suits(s, MathMode::fp32)) << batch << " " << in << " " << out;
        EXPECT_EQ(default_gemm_path(s, MathMode::fp32),
                  kOwnGemmByDefault ? GemmPath::own : GemmPath::cublaslt);
        EXPECT_EQ(choose_gemm_path(s, MathMode::fp32, GemmPath::automatic, gemm_route_table()),
                  GemmPath::cublaslt);
      }
    }
  }
}

TEST(GemmRoute, OwnKernelsDoNotSuitTf32GeluOrLargeGemms) {
  const GemmShape small = shape(LinearGemm::forward, 128, 784, 256, Activation::relu);
  EXPECT_FALSE(own_gemm_suits(small, MathMode::tf32));
  EXPECT_FALSE(
      own_gemm_suits(shape(LinearGemm::forward, 128, 784, 256, Activation::gelu), MathMode::fp32));
  // The evaluation batch of 1000 through the first layer: 200.7 M multiply-adds.
  EXPECT_FALSE(own_gemm_suits(shape(LinearGemm::forward, 1000, 784, 256), MathMode::fp32));
  // Exactly at the limit: suits; one row more: not.
  EXPECT_TRUE(own_gemm_suits(shape(LinearGemm::forward, 1024, 256, 256), MathMode::fp32));
  EXPECT_FALSE(own_gemm_suits(shape(LinearGemm::forward, 1025, 256, 256), MathMode::fp32));
}

TEST(GemmRoute, TableRowOverridesTheRuleForItsShapeOnly) {
  const std::array<GemmRoute, 2> table = {{
      {LinearGemm::forward, 128, 256, 128, GemmPath::own},
      {LinearGemm::forward, 2048, 784, 256, GemmPath::own},
  }};
  EXPECT_EQ(choose_gemm_path(shape(LinearGemm::forward, 128, 256, 128), MathMode::fp32,
                             GemmPath::automatic, table),
            GemmPath::own);
  EXPECT_EQ(choose_gemm_path(shape(LinearGemm::forward, 2048, 784, 256), MathMode::fp32,
                             GemmPath::automatic, table),
            GemmPath::own);  // 411 M multiply-adds: not a candidate, but a row decides
  // Same shape, other op: the default.
  EXPECT_EQ(choose_gemm_path(shape(LinearGemm::backward_weight, 128, 256, 128), MathMode::fp32,
                             GemmPath::automatic, table),
            GemmPath::cublaslt);
}

TEST(GemmRoute, ForcedPathWinsWhereTheOwnKernelsApply) {
  const GemmShape relu = shape(LinearGemm::backward_input, 64, 32, 16, Activation::relu);
  EXPECT_EQ(choose_gemm_path(relu, MathMode::fp32, GemmPath::cublaslt, kNoTable),
            GemmPath::cublaslt);
  EXPECT_EQ(choose_gemm_path(relu, MathMode::tf32, GemmPath::own, kNoTable), GemmPath::own);
  // GELU has no own epilogue: cuBLASLt whatever is forced.
  const GemmShape gelu = shape(LinearGemm::forward, 64, 32, 16, Activation::gelu);
  EXPECT_EQ(choose_gemm_path(gelu, MathMode::fp32, GemmPath::own, kNoTable), GemmPath::cublaslt);
  // More output columns than the bias-gradient reduction has tickets for.
  const GemmShape wide =
      shape(LinearGemm::backward_input, 4, 16 * kOwnGemmMaxColumnTiles + 1, 4, Activation::relu);
  EXPECT_FALSE(own_gemm_supported(wide));
  EXPECT_EQ(choose_gemm_path(wide, MathMode::fp32, GemmPath::own, kNoTable), GemmPath::cublaslt);
}

TEST(GemmRoute, ShippedTableHoldsOnlyDecidedRows) {
  for (const GemmRoute& r : gemm_route_table()) {
    EXPECT_NE(r.path, GemmPath::automatic);
    EXPECT_GT(r.rows * r.in * r.out, 0);
  }
}

TEST(GemmRoute, PathNamesParseAndUnknownNamesAreUserErrors) {
  for (GemmPath p : {GemmPath::automatic, GemmPath::cublaslt, GemmPath::own})
    EXPECT_EQ(parse_gemm_path(gemm_path_name(p), "KASMINA_GEMM_PATH"), p);
  try {
    parse_gemm_path("cublas", "environment variable KASMINA_GEMM_PATH");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "environment variable KASMINA_GEMM_PATH: 'cublas' is not allowed (allowed: "
                 "automatic, cublaslt, own)");
  }
}

// ---- the input gradient through the ReLU below a bf16 linear layer ----

constexpr std::span<const DactRoute> kNoDactTable{};

TEST(DactRoute, PassForReluInputGradientsCublasLtElsewhere) {
  // The 4096-wide MLP at batch 4096: both input gradients (through the hidden layers' ReLUs).
  EXPECT_EQ(default_dact_path(shape(LinearGemm::backward_input, 4096, 4096, 4096, Activation::relu),
                              kNoDactTable),
            DactPath::pass);
  EXPECT_EQ(default_dact_path(shape(LinearGemm::backward_input, 4096, 4096, 10, Activation::relu),
                              kNoDactTable),
            DactPath::pass);
  // The reference MLP at batch 256 and a single row: the pass as well (measured faster).
  EXPECT_EQ(default_dact_path(shape(LinearGemm::backward_input, 256, 256, 128, Activation::relu),
                              kNoDactTable),
            DactPath::pass);
  EXPECT_EQ(
      default_dact_path(shape(LinearGemm::backward_input, 1, 3, 7, Activation::relu), kNoDactTable),
      DactPath::pass);
  // GELU: cuBLASLt (its bf16 DGELU already falls back to kasmina's kernel).
  EXPECT_EQ(default_dact_path(shape(LinearGemm::backward_input, 4096, 4096, 4096, Activation::gelu),
                              kNoDactTable),
            DactPath::cublaslt);
}

TEST(DactRoute, TableRowOverridesTheRuleAndForcedPathWins) {
  const std::array<DactRoute, 1> table = {{{4096, 4096, 10, DactPath::cublaslt}}};
  EXPECT_EQ(
      default_dact_path(shape(LinearGemm::backward_input, 4096, 4096, 10, Activation::relu), table),
      DactPath::cublaslt);
  EXPECT_EQ(
      default_dact_path(shape(LinearGemm::backward_input, 4096, 4096, 11, Activation::relu), table),
      DactPath::pass);
  const DactPath before = forced_dact_path();
  const GemmShape small = shape(LinearGemm::backward_input, 8, 16, 4, Activation::relu);
  set_dact_path(DactPath::pass);
  EXPECT_EQ(choose_dact_path(small), DactPath::pass);
  // No activation: nothing to replace, whatever is forced.
  EXPECT_EQ(choose_dact_path(shape(LinearGemm::backward_input, 8, 16, 4)), DactPath::cublaslt);
  set_dact_path(DactPath::cublaslt);
  EXPECT_EQ(choose_dact_path(shape(LinearGemm::backward_input, 4096, 4096, 4096, Activation::relu)),
            DactPath::cublaslt);
  set_dact_path(before);
}

TEST(DactRoute, ShippedTableHoldsOnlyDecidedRowsAndNamesParse) {
  for (const DactRoute& r : dact_route_table()) {
    EXPECT_NE(r.path, DactPath::automatic);
    EXPECT_GT(r.rows * r.in * r.out, 0);
  }
  for (DactPath p : {DactPath::automatic, DactPath::cublaslt, DactPath::pass})
    EXPECT_EQ(parse_dact_path(dact_path_name(p), "KASMINA_DACT_PATH"), p);
  EXPECT_THROW(parse_dact_path("own", "environment variable KASMINA_DACT_PATH"), UserError);
}

TEST(SkinnyDgrad, SmallInputGradientsOnlyUnlessForced) {
  const SkinnyDgrad before = skinny_dgrad_mode();
  set_skinny_dgrad_mode(SkinnyDgrad::automatic);
  EXPECT_TRUE(use_skinny_dgrad(128 * 128));  // the reference MLP's layer 2 at B128
  EXPECT_TRUE(use_skinny_dgrad(kSkinnyDgradMaxElements));
  EXPECT_FALSE(use_skinny_dgrad(kSkinnyDgradMaxElements + 1));
  EXPECT_FALSE(use_skinny_dgrad(int64_t{4096} * 4096));
  set_skinny_dgrad_mode(SkinnyDgrad::on);
  EXPECT_TRUE(use_skinny_dgrad(int64_t{4096} * 4096));
  set_skinny_dgrad_mode(SkinnyDgrad::off);
  EXPECT_FALSE(use_skinny_dgrad(1));
  set_skinny_dgrad_mode(before);
}

}  // namespace
}  // namespace kasmina::ops
