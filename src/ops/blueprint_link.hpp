// How a blueprint's module is made: `fused` compiles its row functions inlined into the seed
// kernels (one NVRTC compile of the whole template per blueprint, ~0.4-0.7 s); `linked` compiles
// the seed kernels once per chunk width and architecture (relocatable code, kept in the kernel
// cache like any module) and, per blueprint, only its row functions, then links the two with
// nvJitLink (blueprint_codegen.hpp, "Linked modules"; ~0.1 s, but the calls cost the backward
// kernel time); `tiered` serves the fused module when the caches hold it, else the linked one at
// once and the fused one compiled in the background, which the layer swaps in at a step boundary
// (the two are meant to compute the same bits: src/ir/README.md, "Tiered compiles").
// $KASMINA_IR_CODEGEN picks one; the default is tiered. Linked
// falls back to fused where it cannot be made (no nvJitLink, PTX targets, a link that fails),
// and says why.
#pragma once
#include <string>
#include <vector>

#include "ir/graph.hpp"
#include "morph/morph_config.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {

enum class CodegenMode { linked, fused, tiered };
const char* codegen_mode_name(CodegenMode mode);
// $KASMINA_IR_CODEGEN: "tiered" (also when unset or empty), "fused" or "linked"; anything else
// is a user error.
CodegenMode codegen_mode_from_env();

// What a linked module is made of: the row functions' program and the template's (one text per
// chunk width), each with its NVRTC options (`base`: blueprint_compile_options and the extra
// options; `minimal`: add -minimal, NVRTC 12.4 and later, which leaves out the runtime API's
// declarations that neither program uses: 3-8% of the row functions' compile time;
// `fast_rows`: the row functions' program also with kFastRowsOption, NVRTC 12.8 and later).
struct LinkedPrograms {
  std::string rows;
  const std::string* templ = nullptr;  // linked_template_text(chunk): made once per process
  std::vector<std::string> rows_options, templ_options;
};
// linked_template_source(chunk), made once per chunk width in a process (a lookup of a linked
// module hashes it into the key).
const std::string& linked_template_text(int32_t chunk);

// The template program's NVRTC options: `base`, relocatable, and -minimal when asked.
std::vector<std::string> linked_template_options(const std::vector<std::string>& base,
                                                 bool minimal);

LinkedPrograms linked_programs(const ir::Graph& g, const morph::BlueprintShape& sh,
                               const std::vector<std::string>& base, bool minimal = false,
                               bool fast_rows = false);
// The row functions' optimisation level in a linked module: NVRTC's least reduced one, which
// compiles them in ~20% less time (src/ir/README.md, "Linked modules"). The fused module that
// replaces them compiles the same row source with the full optimisation; both compute the same
// bits because every operation of that source names its rounding (blueprint_rounding.hpp).
inline constexpr const char* kFastRowsOption = "--Ofast-compile=min";
// Whether this NVRTC takes kFastRowsOption (12.8 and later).
inline bool takes_fast_rows(const Nvrtc& nvrtc) {
  return nvrtc.version_at_least(12, 8);
}

}  // namespace kasmina::ops
