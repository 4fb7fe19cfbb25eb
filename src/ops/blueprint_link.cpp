#include "ops/blueprint_link.hpp"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "core/enum_table.hpp"
#include "core/error.hpp"
#include "core/str_cat.hpp"
#include "ir/plan.hpp"
#include "ops/blueprint_codegen.hpp"

namespace kasmina::ops {

namespace {
inline constexpr EnumTable<CodegenMode, 3> kCodegenModeNames{{{"tiered", CodegenMode::tiered},
                                                              {"fused", CodegenMode::fused},
                                                              {"linked", CodegenMode::linked}}};
}  // namespace

const char* codegen_mode_name(CodegenMode mode) {
  return enum_name(kCodegenModeNames, mode);
}

CodegenMode codegen_mode_from_env() {
  const char* env = std::getenv("KASMINA_IR_CODEGEN");
  const std::string v = env ? env : "";
  if (v.empty()) return CodegenMode::tiered;
  if (const auto m = enum_parse(kCodegenModeNames, v)) return *m;
  throw UserError(
      str_cat("KASMINA_IR_CODEGEN: '", v, "' is not one of ", enum_allowed(kCodegenModeNames)));
}

const std::string& linked_template_text(int32_t chunk) {
  static std::mutex mutex;
  static std::map<int32_t, std::unique_ptr<const std::string>> texts;  // never erased
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<const std::string>& t = texts[chunk];
  if (!t) t = std::make_unique<const std::string>(linked_template_source(chunk));
  return *t;
}

std::vector<std::string> linked_template_options(const std::vector<std::string>& base,
                                                 bool minimal) {
  std::vector<std::string> o = base;
  o.push_back("-rdc=true");
  if (minimal) o.push_back("-minimal");
  return o;
}

LinkedPrograms linked_programs(const ir::Graph& g, const morph::BlueprintShape& sh,
                               const std::vector<std::string>& base, bool minimal, bool fast_rows) {
  LinkedPrograms p;
  p.rows = generate_blueprint_source(g, ir::make_plan(g, sh), ModuleParts::linked_rows);
  p.templ = &linked_template_text(sh.chunk);
  p.templ_options = linked_template_options(base, minimal);
  p.rows_options = p.templ_options;
  p.rows_options.push_back(str_cat("--maxrregcount=", linked_rows_max_registers(sh.chunk)));
  if (fast_rows) p.rows_options.push_back(kFastRowsOption);
  return p;
}

}  // namespace kasmina::ops
