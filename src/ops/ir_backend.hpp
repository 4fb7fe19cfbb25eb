// Which device code an IR blueprint's seeds get on CUDA: the fallback chain of src/ir/README.md.
// The generated kernels come from memory, the disk cache or NVRTC (blueprint_compiler.hpp); when
// they cannot be had (NVRTC missing, a failed compile or load, no launch configuration fits), a
// graph that restates a built-in (ir/builtin_ir.hpp) runs the built-in's ahead-of-time kernels,
// any other the IR-interpreting kernels (src/ops/cuda/ir_interpret.hpp: slow but correct); only
// when those cannot run either are the blueprint's germinations refused. Training never stops
// for a missing or failing compiler.
//
// KASMINA_IR_BACKEND picks the start of the chain:
//   auto (or unset)  generated kernels, else the built-in's, else the interpreter, else refuse;
//   compiled         generated kernels, else refuse (measures what NVRTC gives);
//   builtin          the built-in's kernels for a restatement, else the interpreter, NVRTC never
//                    asked (tests, and the A/B against the generated kernels);
//   interpreter      the interpreter at once, NVRTC never asked (tests, a suspect compiler).
#pragma once
#include <cstdint>
#include <string>

namespace kasmina::ops {

enum class IrBackend { automatic, compiled, builtin, interpreter };

// "auto", "compiled", "builtin", "interpreter"; UserError naming KASMINA_IR_BACKEND otherwise.
IrBackend parse_ir_backend(const std::string& text);
const char* ir_backend_name(IrBackend b);
// The process's choice, from KASMINA_IR_BACKEND (read on every call: prepare time only).
IrBackend ir_backend();

// The level of the chain that served a blueprint (telemetry and event names).
enum class ServedBy { memory, disk, compiled, builtin, interpreter, refused };
const char* served_by_name(ServedBy s);

struct FallbackStep {
  ServedBy level = ServedBy::refused;
  std::string why;  // interpreter: why the generated kernels are not used; refused: why nothing
};
// After the generated kernels could not be had (`why`), for a graph that restates built-in kind
// `builtin` (-1: none): the built-in's kernels (backend auto or builtin), else the interpreter,
// when the build can run them (cuda_build); refused under KASMINA_IR_BACKEND=compiled or
// without CUDA.
FallbackStep after_generated_failed(IrBackend b, const std::string& why, bool cuda_build,
                                    int32_t builtin = -1);

}  // namespace kasmina::ops
