#include "ops/blueprint_compiler.hpp"

#include "core/enum_table.hpp"
#include "core/sha256.hpp"
#include "ir/plan.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {

namespace {

// Each field with its length, so that no two field lists hash alike.
void field(Sha256& h, const std::string& s) {
  const std::string len = std::to_string(s.size()) + ":";
  h.update(len);
  h.update(s);
}

inline constexpr EnumTable<CompileLevel, 4> kCompileLevelNames{
    {{"memory", CompileLevel::memory},
     {"disk", CompileLevel::disk},
     {"compiled", CompileLevel::compiled},
     {"unavailable", CompileLevel::unavailable}}};

}  // namespace

const char* compile_level_name(CompileLevel level) {
  return enum_name(kCompileLevelNames, level);
}

std::string blueprint_kernel_key(const std::string& canonical_text, const std::string& source,
                                 const std::string& nvrtc_version,
                                 const std::vector<std::string>& options, const std::string& arch) {
  Sha256 h;
  field(h, "kasmina-kernel-key 1");
  field(h, canonical_text);
  field(h, std::to_string(kBlueprintCodegenVersion));
  field(h, source);
  field(h, nvrtc_version);
  for (const std::string& o : options) field(h, o);
  field(h, arch);
  return to_hex(h.finish());
}

std::string blueprint_module_source(const ir::Graph& g, const morph::BlueprintShape& sh) {
  return generate_blueprint_source(g, ir::make_plan(g, sh), ModuleParts::seed_kernels);
}

std::vector<std::string> blueprint_compile_options(const Nvrtc& nvrtc, const std::string& arch) {
  std::vector<std::string> o = {"--gpu-architecture=" + arch, "--std=c++17"};
  // The optimizer and ptxas on two threads (the module's two kernels side by side): the same
  // machine code (the cubins' text sections compared byte for byte on NVRTC 12.4, 12.6, 12.8 and
  // 13.0), less wall time. NVRTC accepts --split-compile from 12.4 on (not checked before), its
  // ptxas --split-compile from 12.8 on (12.6 fails the compile).
  if (nvrtc.version_at_least(12, 4)) o.push_back("--split-compile=2");
  if (nvrtc.version_at_least(12, 8)) o.push_back("--ptxas-options=--split-compile=2");
  return o;
}

BlueprintCompiler::BlueprintCompiler(ir::CacheOptions disk, std::vector<std::string> extra_options)
    : disk_(std::move(disk)), extra_options_(std::move(extra_options)) {}

CompiledBlueprint BlueprintCompiler::get(const ir::Graph& g, const morph::BlueprintShape& sh,
                                         const std::string& arch) {
  const std::string memory_key = g.hash + "/" + std::to_string(sh.chunk) + "/" +
                                 std::to_string(sh.hidden) + "/" + std::to_string(sh.rank) + "/" +
                                 arch;
  std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = memory_.find(memory_key); it != memory_.end()) {
    CompiledBlueprint hit = it->second;
    hit.level = CompileLevel::memory;
    return hit;
  }
  CompiledBlueprint out;
  const Nvrtc* nvrtc = Nvrtc::get();
  if (!nvrtc) {
    out.log = Nvrtc::why();
    return out;  // not remembered: the caller falls back and says so once
  }
  const std::string source = blueprint_module_source(g, sh);
  std::vector<std::string> options = blueprint_compile_options(*nvrtc, arch);
  options.insert(options.end(), extra_options_.begin(), extra_options_.end());
  out.key = blueprint_kernel_key(g.canonical_text, source, nvrtc->version(), options, arch);
  const ir::CacheLookup r = disk_.get_or_compile(out.key, [&] {
    ++nvrtc_calls_;
    const NvrtcOutput c = nvrtc->compile(source, g.name + ".cu", options);
    return ir::CompileOutcome{c.ok, c.binary, c.log};
  });
  out.ok = r.ok;
  if (r.ok)
    out.binary = std::make_shared<const std::string>(r.payload);
  else
    out.log = r.payload;
  out.level = r.source == ir::CacheSource::disk ? CompileLevel::disk : CompileLevel::compiled;
  memory_[memory_key] = out;
  return out;
}

BlueprintCompiler& process_blueprint_compiler() {
  static BlueprintCompiler compiler([] {
    ir::CacheOptions o;
    o.dir = ir::default_cache_dir();
    return o;
  }());
  return compiler;
}

}  // namespace kasmina::ops
