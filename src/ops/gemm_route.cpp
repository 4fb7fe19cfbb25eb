#include "ops/gemm_route.hpp"

#include <array>

#include "core/enum_table.hpp"
#include "core/error.hpp"

namespace kasmina::ops {

namespace {

inline constexpr EnumTable<GemmPath, 3> kGemmPathNames{
    {{"automatic", GemmPath::automatic}, {"cublaslt", GemmPath::cublaslt}, {"own", GemmPath::own}}};

// Measured exceptions to the default rule, by op and shape (rows = batch). Fill from
//   KASMINA_GEMM_PATH=cublaslt kasmina bench --device cuda --filter 'ops/linear' and
//   KASMINA_GEMM_PATH=own      kasmina bench --device cuda --filter 'ops/linear'
// (one row per shape where the faster path is not the one the rule picks).
// A row reads {LinearGemm::forward, 128, 784, 256, GemmPath::cublaslt} (op, rows, in, out, path).
constexpr std::array<GemmRoute, 0> kRoutes{};

int64_t column_tiles(const GemmShape& s) {
  // The own kernels' output columns: out (forward), in (input and weight gradients).
  const int64_t cols = s.op == LinearGemm::forward ? s.out : s.in;
  return (cols + 15) / 16;
}

}  // namespace

const char* gemm_path_name(GemmPath p) {
  return enum_name(kGemmPathNames, p);
}

GemmPath parse_gemm_path(const std::string& name, const std::string& where) {
  if (const auto p = enum_parse(kGemmPathNames, name)) return *p;
  throw UserError(where + ": '" + name +
                  "' is not allowed (allowed: " + enum_allowed(kGemmPathNames) + ")");
}

std::span<const GemmRoute> gemm_route_table() {
  return kRoutes;
}

bool own_gemm_supported(const GemmShape& s) {
  return (s.act == Activation::none || s.act == Activation::relu) &&
         column_tiles(s) <= kOwnGemmMaxColumnTiles;
}

bool own_gemm_suits(const GemmShape& s, MathMode math) {
  const double fma =
      static_cast<double>(s.rows) * static_cast<double>(s.in) * static_cast<double>(s.out);
  return math == MathMode::fp32 && own_gemm_supported(s) &&
         fma <= static_cast<double>(kOwnGemmMaxFma);
}

GemmPath default_gemm_path(const GemmShape& s, MathMode math) {
  return kOwnGemmByDefault && own_gemm_suits(s, math) ? GemmPath::own : GemmPath::cublaslt;
}

GemmPath choose_gemm_path(const GemmShape& s, MathMode math, GemmPath forced,
                          std::span<const GemmRoute> table) {
  if (!own_gemm_supported(s)) return GemmPath::cublaslt;
  if (forced != GemmPath::automatic) return forced;
  for (const GemmRoute& r : table) {
    if (r.path != GemmPath::automatic && r.op == s.op && r.rows == s.rows && r.in == s.in &&
        r.out == s.out) {
      return r.path;
    }
  }
  return default_gemm_path(s, math);
}

}  // namespace kasmina::ops
