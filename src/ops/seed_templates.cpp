#include "ops/seed_templates.hpp"

#include <map>
#include <mutex>

#include "ops/blueprint_compiler.hpp"
#include "ops/blueprint_link.hpp"
#include "ops/nvrtc.hpp"

// Defined by the generated source of builds that have templates built in; weak, so that the
// generator itself and builds without them link (null: none).
extern "C" const KasminaBuiltinModule* kasmina_builtin_seed_templates(unsigned long* count)
    __attribute__((weak));

namespace kasmina::ops {

std::string seed_template_key(const std::string& text, const std::string& nvrtc_version,
                              const std::vector<std::string>& options, const std::string& arch) {
  return blueprint_kernel_key("seed kernels", text, nvrtc_version, options, arch);
}

namespace {
// The template's text, NVRTC options and key.
struct Program {
  const std::string* text = nullptr;
  std::vector<std::string> options;
  std::string key;
};
Program program_of(const Nvrtc& nvrtc, int32_t chunk, const std::string& arch,
                   const std::vector<std::string>& extra) {
  Program p;
  std::vector<std::string> base = blueprint_compile_options(nvrtc, arch);
  base.insert(base.end(), extra.begin(), extra.end());
  p.options = linked_template_options(base, nvrtc.version_at_least(12, 4));
  p.text = &linked_template_text(chunk);
  p.key = seed_template_key(*p.text, nvrtc.version(), p.options, arch);
  return p;
}
}  // namespace

std::string seed_template_key_of(int32_t chunk, const std::string& arch,
                                 const std::vector<std::string>& extra) {
  const Nvrtc* nvrtc = Nvrtc::get();
  return nvrtc ? program_of(*nvrtc, chunk, arch, extra).key : std::string();
}

SeedTemplateBuild build_seed_template(int32_t chunk, const std::string& arch,
                                      const std::vector<std::string>& extra) {
  SeedTemplateBuild b;
  const Nvrtc* nvrtc = Nvrtc::get();
  if (!nvrtc) {
    b.log = Nvrtc::why();
    return b;
  }
  const Program p = program_of(*nvrtc, chunk, arch, extra);
  b.key = p.key;
  b.nvrtc_version = nvrtc->version();
  const ir::CompileOutcome out =
      compile_outcome(nvrtc->compile(*p.text, "seed_kernels.cu", p.options));
  b.ok = out.ok;
  b.module = out.payload;
  b.log = out.log;
  return b;
}

namespace {
// The generated table (empty when none is linked in).
std::vector<KasminaBuiltinModule> builtin_table() {
  if (!kasmina_builtin_seed_templates) return {};
  unsigned long n = 0;
  const KasminaBuiltinModule* m = kasmina_builtin_seed_templates(&n);
  return std::vector<KasminaBuiltinModule>(m, m + n);
}

const std::map<std::string, std::string>& builtin_templates() {
  static const std::map<std::string, std::string> table = [] {
    std::map<std::string, std::string> t;
    for (const KasminaBuiltinModule& m : builtin_table())
      t.emplace(m.key, std::string(reinterpret_cast<const char*>(m.data), m.size));
    return t;
  }();
  return table;
}
}  // namespace

const std::string* builtin_seed_template(const std::string& key) {
  const auto& t = builtin_templates();
  const auto it = t.find(key);
  return it == t.end() ? nullptr : &it->second;
}

size_t builtin_seed_template_count() {
  return builtin_templates().size();
}

std::string builtin_seed_templates_summary() {
  std::map<std::string, std::string> by;  // "sm_90 (NVRTC 13.0)" -> "4, 8, ..."
  for (const KasminaBuiltinModule& m : builtin_table()) {
    std::string& chunks = by[std::string(m.arch) + " (NVRTC " + m.nvrtc + ")"];
    chunks += (chunks.empty() ? "" : ", ") + std::to_string(m.chunk);
  }
  std::string out;
  for (const auto& [target, chunks] : by)
    out += (out.empty() ? "" : "; ") + ("C = " + chunks + " for " + target);
  return out.empty() ? "none" : out;
}

}  // namespace kasmina::ops
