#include "ops/ir_backend.hpp"

#include <cstdlib>

#include "core/error.hpp"

namespace kasmina::ops {

IrBackend parse_ir_backend(const std::string& text) {
  if (text.empty() || text == "auto") return IrBackend::automatic;
  if (text == "compiled") return IrBackend::compiled;
  if (text == "interpreter") return IrBackend::interpreter;
  throw UserError("KASMINA_IR_BACKEND: '" + text + "' is not one of auto, compiled, interpreter");
}

const char* ir_backend_name(IrBackend b) {
  switch (b) {
    case IrBackend::automatic:
      return "auto";
    case IrBackend::compiled:
      return "compiled";
    case IrBackend::interpreter:
      return "interpreter";
  }
  return "?";
}

IrBackend ir_backend() {
  const char* v = std::getenv("KASMINA_IR_BACKEND");
  return parse_ir_backend(v ? v : "");
}

const char* served_by_name(ServedBy s) {
  switch (s) {
    case ServedBy::memory:
      return "memory";
    case ServedBy::disk:
      return "disk";
    case ServedBy::compiled:
      return "compiled";
    case ServedBy::interpreter:
      return "interpreter";
    case ServedBy::refused:
      return "refused";
  }
  return "?";
}

FallbackStep after_generated_failed(IrBackend b, const std::string& why, bool interpreter_built) {
  FallbackStep s;
  if (b == IrBackend::compiled) {
    s.why = why + " (KASMINA_IR_BACKEND=compiled: no interpreter fallback)";
    return s;
  }
  if (!interpreter_built) {
    s.why = why + "; this build has no IR-interpreting kernels";
    return s;
  }
  s.level = ServedBy::interpreter;
  s.why = why;
  return s;
}

}  // namespace kasmina::ops
