// The seed-kernel templates of linked modules (blueprint_link.hpp) built into the binary: the
// build runs kasmina_seed_templates (src/ops/tools/build_seed_templates.cpp) for the chunk widths
// of kBuiltinTemplateChunks and the build's architectures, with NVRTC, as a linked module's
// get() would compile them, and links the modules in (a generated source defining
// kasmina_builtin_seed_templates). A linked module whose template key is among them links to it
// instead of compiling it, so the first blueprint of such a chunk width compiles as fast as the
// next ones. The key names the text, NVRTC's version, the options and the architecture, so a
// machine whose NVRTC differs from the build's compiles its own (and keeps it in the kernel
// cache) as before.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

// One built-in template: its kernel-cache key (64 hex digits), module bytes, and what it was
// made for (chunk width, architecture, the build's NVRTC version).
struct KasminaBuiltinModule {
  const char* key;
  const unsigned char* data;
  unsigned long size;
  int chunk;
  const char* arch;
  const char* nvrtc;
};

namespace kasmina::ops {

inline constexpr int32_t kBuiltinTemplateChunks[] = {4, 8, 16, 32, 64};

// The kernel-cache key of a template text compiled by NVRTC `nvrtc_version` with `options` for
// `arch`.
std::string seed_template_key(const std::string& text, const std::string& nvrtc_version,
                              const std::vector<std::string>& options, const std::string& arch);

// The key a linked module's get() gives the template of `chunk` for `arch` with this process's
// NVRTC (empty when NVRTC cannot be loaded).
std::string seed_template_key_of(int32_t chunk, const std::string& arch,
                                 const std::vector<std::string>& extra);

struct SeedTemplateBuild {
  std::string key;
  std::string nvrtc_version;
  bool ok = false;
  std::string module;  // ok: the relocatable cubin of both seed kernels
  std::string log;     // the compiler's log, or why nothing was compiled
};
// The template of `chunk` for `arch` ("sm_90"), keyed and compiled as a linked module's get()
// does with NVRTC's options for it plus `extra`.
SeedTemplateBuild build_seed_template(int32_t chunk, const std::string& arch,
                                      const std::vector<std::string>& extra);

// The built-in template of `key` (null: none built in).
const std::string* builtin_seed_template(const std::string& key);
// How many are built in (0 in a build without CUDA or NVRTC at build time).
size_t builtin_seed_template_count();
// What is built in, for people: "C = 4, 8, 16, 32, 64 for sm_90 (NVRTC 13.0)", one such part per
// architecture and NVRTC, joined by "; ", or "none".
std::string builtin_seed_templates_summary();

}  // namespace kasmina::ops
