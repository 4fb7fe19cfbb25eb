#include "ops/ir_backend.hpp"

#include <cstdlib>

#include "core/enum_table.hpp"
#include "core/error.hpp"

namespace kasmina::ops {

namespace {

inline constexpr EnumTable<IrBackend, 4> kIrBackendNames{{{"auto", IrBackend::automatic},
                                                          {"compiled", IrBackend::compiled},
                                                          {"builtin", IrBackend::builtin},
                                                          {"interpreter", IrBackend::interpreter}}};
inline constexpr EnumTable<ServedBy, 6> kServedByNames{{{"memory", ServedBy::memory},
                                                        {"disk", ServedBy::disk},
                                                        {"compiled", ServedBy::compiled},
                                                        {"builtin", ServedBy::builtin},
                                                        {"interpreter", ServedBy::interpreter},
                                                        {"refused", ServedBy::refused}}};

}  // namespace

IrBackend parse_ir_backend(const std::string& text) {
  if (text.empty()) return IrBackend::automatic;
  if (const auto b = enum_parse(kIrBackendNames, text)) return *b;
  throw UserError("KASMINA_IR_BACKEND: '" + text + "' is not one of " +
                  enum_allowed(kIrBackendNames));
}

const char* ir_backend_name(IrBackend b) {
  return enum_name(kIrBackendNames, b);
}

IrBackend ir_backend() {
  const char* v = std::getenv("KASMINA_IR_BACKEND");
  return parse_ir_backend(v ? v : "");
}

const char* served_by_name(ServedBy s) {
  return enum_name(kServedByNames, s);
}

FallbackStep after_generated_failed(IrBackend b, const std::string& why, bool cuda_build,
                                    int32_t builtin) {
  FallbackStep s;
  if (b == IrBackend::compiled) {
    s.why = why + " (KASMINA_IR_BACKEND=compiled: no fallback)";
    return s;
  }
  if (!cuda_build) {
    s.why = why + "; this build has no IR-interpreting kernels";
    return s;
  }
  s.level = builtin >= 0 && b != IrBackend::interpreter ? ServedBy::builtin : ServedBy::interpreter;
  s.why = why;
  return s;
}

}  // namespace kasmina::ops
