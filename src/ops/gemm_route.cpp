#include "ops/gemm_route.hpp"

#include <array>
#include <cstdlib>

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

inline constexpr EnumTable<DactPath, 3> kDactPathNames{{{"automatic", DactPath::automatic},
                                                        {"cublaslt", DactPath::cublaslt},
                                                        {"pass", DactPath::pass}}};

// Measured exceptions to the default DRELU rule, by backward_input shape (rows = batch). Fill
// from the op table's perf rows of linear_backward_input_bf16out under KASMINA_DACT_PATH=cublaslt
// and =pass, checked against the whole step (kasmina bench). A row reads
// {4096, 4096, 10, DactPath::pass} (rows, in, out, path).
constexpr std::array<DactRoute, 0> kDactRoutes{};

DactPath& forced_dact_flag() {
  static DactPath p = [] {
    const char* v = std::getenv("KASMINA_DACT_PATH");
    return v && *v ? parse_dact_path(v, "environment variable KASMINA_DACT_PATH")
                   : DactPath::automatic;
  }();
  return p;
}

SkinnyDgrad& skinny_dgrad_flag() {
  static SkinnyDgrad mode = [] {
    const char* v = std::getenv("KASMINA_SKINNY_DGRAD");
    if (v != nullptr && std::string(v) == "1") return SkinnyDgrad::on;
    if (v != nullptr && std::string(v) == "0") return SkinnyDgrad::off;
    return SkinnyDgrad::automatic;
  }();
  return mode;
}

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

const char* dact_path_name(DactPath p) {
  return enum_name(kDactPathNames, p);
}

DactPath parse_dact_path(const std::string& name, const std::string& where) {
  if (const auto p = enum_parse(kDactPathNames, name)) return *p;
  throw UserError(where + ": '" + name +
                  "' is not allowed (allowed: " + enum_allowed(kDactPathNames) + ")");
}

std::span<const DactRoute> dact_route_table() {
  return kDactRoutes;
}

DactPath default_dact_path(const GemmShape& s, std::span<const DactRoute> table) {
  for (const DactRoute& r : table) {
    if (r.path != DactPath::automatic && r.rows == s.rows && r.in == s.in && r.out == s.out)
      return r.path;
  }
  return s.act == Activation::relu ? DactPath::pass : DactPath::cublaslt;
}

DactPath choose_dact_path(const GemmShape& s) {
  if (s.act == Activation::none) return DactPath::cublaslt;  // no epilogue to replace
  const DactPath forced = forced_dact_flag();
  return forced != DactPath::automatic ? forced : default_dact_path(s, dact_route_table());
}

void set_dact_path(DactPath p) {
  forced_dact_flag() = p;
}

DactPath forced_dact_path() {
  return forced_dact_flag();
}

bool use_skinny_dgrad(int64_t dx_elements) {
  switch (skinny_dgrad_flag()) {
    case SkinnyDgrad::on:
      return true;
    case SkinnyDgrad::off:
      return false;
    case SkinnyDgrad::automatic:
      break;
  }
  return dx_elements <= kSkinnyDgradMaxElements;
}

SkinnyDgrad skinny_dgrad_mode() {
  return skinny_dgrad_flag();
}

void set_skinny_dgrad_mode(SkinnyDgrad mode) {
  skinny_dgrad_flag() = mode;
}

}  // namespace kasmina::ops
