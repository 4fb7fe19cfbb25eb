#include "ops/blueprint_compiler.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>

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

inline constexpr EnumTable<CompileLevel, 5> kCompileLevelNames{
    {{"memory", CompileLevel::memory},
     {"disk", CompileLevel::disk},
     {"compiled", CompileLevel::compiled},
     {"unavailable", CompileLevel::unavailable},
     {"timed_out", CompileLevel::timed_out}}};

// 90 from "sm_90" (0 when it is not of that form).
int arch_number(const std::string& arch) {
  if (arch.rfind("sm_", 0) != 0) return 0;
  try {
    return std::stoi(arch.substr(3));
  } catch (const std::exception&) {
    return 0;
  }
}

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

namespace {
constexpr const char* kModuleMagic = "kasmina-module 2 ";
}  // namespace

std::string module_binary(const std::string& forward, const std::string& backward) {
  return kModuleMagic + std::to_string(forward.size()) + " " + std::to_string(backward.size()) +
         "\n" + forward + backward;
}

bool split_module_binary(const std::string& module, std::string* forward, std::string* backward) {
  const std::string magic = kModuleMagic;
  const size_t eol = module.find('\n');
  if (module.rfind(magic, 0) != 0 || eol == std::string::npos || eol > 64) return false;
  unsigned long long n1 = 0, n2 = 0;
  char tail = 0;
  const std::string sizes = module.substr(magic.size(), eol - magic.size());
  if (std::sscanf(sizes.c_str(), "%llu %llu%c", &n1, &n2, &tail) != 2) return false;
  if (n1 > module.size() || n2 != module.size() - eol - 1 - n1) return false;
  *forward = module.substr(eol + 1, n1);
  *backward = module.substr(eol + 1 + n1);
  return true;
}

CompileTarget compile_target(const std::vector<int>& supported, const std::string& arch, bool ptx) {
  const int want = arch_number(arch);
  const bool can =
      supported.empty() || std::find(supported.begin(), supported.end(), want) != supported.end();
  if (can && !ptx) return {arch, false};
  int best = want;
  if (!can) {
    best = 0;
    for (int a : supported)
      if (a <= want) best = std::max(best, a);
    if (best == 0) best = supported.front();  // a device older than NVRTC knows: its oldest
  }
  return {"compute_" + std::to_string(best), true};
}

std::vector<std::string> blueprint_compile_options(const Nvrtc&, const std::string& arch) {
  // No --split-compile (up to codegen 6 it put the optimizer and ptxas of the module's two
  // kernels on two threads): a program of one kernel has nothing to split, and the two programs
  // already run side by side (with it they took the same time).
  return {"--gpu-architecture=" + arch, "--std=c++17"};
}

BlueprintCompiler::BlueprintCompiler(ir::CacheOptions disk, std::vector<std::string> extra_options)
    : disk_(std::move(disk)), extra_options_(std::move(extra_options)) {}

BlueprintCompiler::~BlueprintCompiler() {
  for (std::thread& t : threads_) t.join();
}

CompiledBlueprint BlueprintCompiler::compile_now(const std::string& memory_key,
                                                 const std::string& key, const std::string& source,
                                                 const std::string& name,
                                                 const std::vector<std::string>& options,
                                                 const CompileTarget& target) {
  CompiledBlueprint out;
  out.key = key;
  out.ptx = target.ptx;
  out.target = target.name;
  const ir::CacheLookup r = disk_.get_or_compile(key, [&] {
    ++nvrtc_calls_;
    // The two programs side by side (the backward, the longer, on its own thread).
    auto program = [&](int i) {
      std::vector<std::string> o = options;
      o.push_back(kModulePrograms[i]);
      return compile_fn_ ? compile_fn_(source, name, o) : Nvrtc::get()->compile(source, name, o);
    };
    NvrtcOutput b;
    std::thread backward([&] { b = program(1); });
    const NvrtcOutput f = program(0);
    backward.join();
    if (!f.ok || !b.ok) {  // the log of each program that failed (once when they are alike)
      const bool both = !f.ok && !b.ok && f.log != b.log;
      return ir::CompileOutcome{false, "", both ? f.log + "\n" + b.log : f.ok ? b.log : f.log};
    }
    return ir::CompileOutcome{true, module_binary(f.binary, b.binary), f.log + b.log};
  });
  out.ok = r.ok;
  if (r.ok)
    out.binary = std::make_shared<const std::string>(r.payload);
  else
    out.log = r.payload;
  out.level = r.source == ir::CacheSource::disk ? CompileLevel::disk : CompileLevel::compiled;
  std::lock_guard<std::mutex> lock(mutex_);
  memory_[memory_key] = out;
  running_.erase(memory_key);
  return out;
}

CompiledBlueprint BlueprintCompiler::get(const ir::Graph& g, const morph::BlueprintShape& sh,
                                         const std::string& arch, bool ptx) {
  const std::string memory_key = g.hash + "/" + std::to_string(sh.chunk) + "/" +
                                 std::to_string(sh.hidden) + "/" + std::to_string(sh.rank) + "/" +
                                 arch + (ptx ? "/ptx" : "");
  const auto limit = std::chrono::duration<double>(limit_s_);
  std::shared_future<CompiledBlueprint> pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (const auto it = memory_.find(memory_key); it != memory_.end()) {
      CompiledBlueprint hit = it->second;
      hit.level = CompileLevel::memory;
      return hit;
    }
    if (const auto it = running_.find(memory_key); it != running_.end()) pending = it->second;
  }
  CompiledBlueprint out;
  const auto timed_out = [&](const std::string& key) {
    CompiledBlueprint t;
    t.key = key;
    t.level = CompileLevel::timed_out;
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "compiling it takes longer than the limit (%.3g s); it goes on in the "
                  "background, and a later use finds it in the kernel cache",
                  limit_s_);
    t.log = buf;
    return t;
  };
  if (pending.valid()) {  // compiling on another thread since an earlier get() timed out
    if (pending.wait_for(limit) == std::future_status::ready) return pending.get();
    return timed_out("");
  }
  const Nvrtc* nvrtc = Nvrtc::get();
  if (!nvrtc && !compile_fn_) {
    out.log = Nvrtc::why();
    return out;  // not remembered: the caller falls back and says so once
  }
  const CompileTarget target =
      compile_target(nvrtc ? nvrtc->supported_archs() : std::vector<int>{}, arch, ptx);
  const std::string source = blueprint_module_source(g, sh);
  std::vector<std::string> options;
  if (nvrtc)
    options = blueprint_compile_options(*nvrtc, target.name);
  else
    options = {"--gpu-architecture=" + target.name};
  options.insert(options.end(), extra_options_.begin(), extra_options_.end());
  const std::string key = blueprint_kernel_key(
      g.canonical_text, source, nvrtc ? nvrtc->version() : "none", options, target.name);
  const std::string name = g.name + ".cu";
  if (limit_s_ <= 0.0) return compile_now(memory_key, key, source, name, options, target);
  auto task = std::make_shared<std::packaged_task<CompiledBlueprint()>>(
      [this, memory_key, key, source, name, options, target] {
        return compile_now(memory_key, key, source, name, options, target);
      });
  pending = task->get_future().share();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_[memory_key] = pending;
    threads_.emplace_back([task] { (*task)(); });
  }
  if (pending.wait_for(limit) == std::future_status::ready) return pending.get();
  return timed_out(key);
}

std::vector<std::string> nvrtc_options_from_env() {
  std::vector<std::string> out;
  const char* env = std::getenv("KASMINA_NVRTC_OPTIONS");
  std::istringstream in(env ? env : "");
  for (std::string o; in >> o;) out.push_back(o);
  return out;
}

BlueprintCompiler& process_blueprint_compiler() {
  static BlueprintCompiler& compiler = []() -> BlueprintCompiler& {
    ir::CacheOptions o;
    o.dir = ir::default_cache_dir();
    static BlueprintCompiler c(o, nvrtc_options_from_env());
    c.set_time_limit(kDefaultCompileLimitSeconds);
    return c;
  }();
  return compiler;
}

void set_compile_limit(double seconds) {
  process_blueprint_compiler().set_time_limit(seconds);
}

}  // namespace kasmina::ops
