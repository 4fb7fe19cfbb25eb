// Which device code an IR blueprint's seeds get on CUDA: the fallback chain of src/ir/README.md.
// The generated kernels come from memory, the disk cache or NVRTC (blueprint_compiler.hpp); when
// they cannot be had (NVRTC missing, a failed compile or load, no launch configuration fits) the
// IR-interpreting kernels run instead (src/ops/cuda/ir_interpret.hpp: slow but correct), and only
// when those cannot run either are the blueprint's germinations refused. Training never stops
// for a missing or failing compiler.
//
// KASMINA_IR_BACKEND picks the start of the chain:
//   auto (or unset)  generated kernels, else the interpreter, else refuse;
//   compiled         generated kernels, else refuse (measures what NVRTC gives);
//   interpreter      the interpreter at once, NVRTC never asked (tests, a suspect compiler).
#pragma once
#include <string>

namespace kasmina::ops {

enum class IrBackend { automatic, compiled, interpreter };

// "auto", "compiled", "interpreter"; UserError naming KASMINA_IR_BACKEND otherwise.
IrBackend parse_ir_backend(const std::string& text);
const char* ir_backend_name(IrBackend b);
// The process's choice, from KASMINA_IR_BACKEND (read on every call: prepare time only).
IrBackend ir_backend();

// The level of the chain that served a blueprint (telemetry and event names).
enum class ServedBy { memory, disk, compiled, interpreter, refused };
const char* served_by_name(ServedBy s);

struct FallbackStep {
  ServedBy level = ServedBy::refused;
  std::string why;  // interpreter: why the generated kernels are not used; refused: why nothing
};
// After the generated kernels could not be had (`why`): the interpreter when the backend allows
// it and the build can run it (interpreter_built: a CUDA build), else refused.
FallbackStep after_generated_failed(IrBackend b, const std::string& why, bool interpreter_built);

}  // namespace kasmina::ops
