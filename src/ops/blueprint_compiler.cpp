#include "ops/blueprint_compiler.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "core/enum_table.hpp"
#include "core/sha256.hpp"
#include "core/str_cat.hpp"
#include "ir/plan.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/nvjitlink.hpp"
#include "ops/nvrtc.hpp"
#include "ops/seed_templates.hpp"

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

std::string blueprint_module_head(const ir::Graph& g, const morph::BlueprintShape& sh) {
  return generate_blueprint_source(g, ir::make_plan(g, sh), ModuleParts::seed_kernels_head);
}

std::string fused_module_key(const std::string& canonical_text, const std::string& head,
                             const std::string& nvrtc_version,
                             const std::vector<std::string>& options, const std::string& arch) {
  return blueprint_kernel_key(canonical_text, head + seed_kernels_body_digest(), nvrtc_version,
                              options, arch);
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

std::vector<std::string> blueprint_compile_options(const Nvrtc& nvrtc, const std::string& arch) {
  std::vector<std::string> o = {"--gpu-architecture=" + arch, "--std=c++17"};
  // The optimizer and ptxas on two threads, for the two seed kernels of one program: the same
  // machine code (tests/ir/test_blueprint_compiler.cpp), less wall time. NVRTC accepts
  // --split-compile from 12.4 on, its ptxas --split-compile from 12.8 on (12.6 fails).
  if (nvrtc.version_at_least(12, 4)) o.push_back("--split-compile=2");
  if (nvrtc.version_at_least(12, 8)) o.push_back("--ptxas-options=--split-compile=2");
  return o;
}

BlueprintCompiler::BlueprintCompiler(ir::CacheOptions disk, std::vector<std::string> extra_options)
    : disk_(std::move(disk)),
      extra_options_(std::move(extra_options)),
      mode_(codegen_mode_from_env()) {}

NvrtcOutput BlueprintCompiler::compile(const std::string& source, const std::string& name,
                                       const std::vector<std::string>& options) {
  return compile_fn_ ? compile_fn_(source, name, options)
                     : Nvrtc::get()->compile(source, name, options);
}

ir::CompileOutcome compile_outcome(const NvrtcOutput& out) {
  return out.ok ? ir::CompileOutcome{true, out.binary, out.log}
                : ir::CompileOutcome{false, "", out.log};
}

ir::CompileOutcome BlueprintCompiler::compile_fused(const Job& job) {
  ++nvrtc_calls_;
  return compile_outcome(compile(job.source + seed_kernels_body(), job.name, job.options));
}

std::shared_ptr<const std::string> BlueprintCompiler::template_module(const Job& job,
                                                                      std::string* log) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (const auto it = templates_.find(job.templ_key); it != templates_.end()) return it->second;
    // Built into the binary (the same text, NVRTC version, options and architecture), unless a
    // test compiler stands in for NVRTC.
    if (const std::string* built = compile_fn_ ? nullptr : builtin_seed_template(job.templ_key))
      return templates_.emplace(job.templ_key, std::make_shared<const std::string>(*built))
          .first->second;
  }
  const ir::CacheLookup r = disk_.get_or_compile(job.templ_key, [&] {
    ++nvrtc_calls_;
    ++template_compiles_;
    return compile_outcome(compile(*job.templ, "seed_kernels.cu", job.templ_options));
  });
  if (!r.ok) {
    *log = r.payload;
    return nullptr;
  }
  auto module = std::make_shared<const std::string>(r.payload);
  std::lock_guard<std::mutex> lock(mutex_);
  return templates_.emplace(job.templ_key, module).first->second;
}

ir::CompileOutcome BlueprintCompiler::compile_linked(const Job& job) {
  // The template (when it is not in memory) on its own thread while the row functions compile.
  std::string templ_log;
  std::shared_ptr<const std::string> templ;
  std::thread fetch([&] { templ = template_module(job, &templ_log); });
  // The row functions as two programs side by side (kRowPrograms: the delta's, the backward's).
  ++nvrtc_calls_;
  const auto rows_program = [&](int i) {
    std::vector<std::string> o = job.options;
    o.push_back(kRowPrograms[i]);
    return compile(job.source, job.name, o);
  };
  NvrtcOutput backward;
  std::thread second([&] { backward = rows_program(1); });
  const NvrtcOutput delta = rows_program(0);
  second.join();
  fetch.join();
  if (!delta.ok || !backward.ok) {  // each program's log that failed (once when they are alike)
    const bool both = !delta.ok && !backward.ok && delta.log != backward.log;
    return ir::CompileOutcome{false, "",
                              both       ? delta.log + "\n" + backward.log
                              : delta.ok ? backward.log
                                         : delta.log};
  }
  if (!templ) return ir::CompileOutcome{false, "", "the seed kernels: " + templ_log};
  // One link: both seed kernels and the row functions in one cubin.
  const std::vector<const std::string*> parts = {templ.get(), &delta.binary, &backward.binary};
  const NvrtcOutput linked =
      link_fn_ ? link_fn_(parts, job.arch) : NvJitLink::get()->link(parts, job.arch);
  if (!linked.ok) return ir::CompileOutcome{false, "", linked.log};
  return ir::CompileOutcome{true, linked.binary, delta.log + backward.log};
}

CompiledBlueprint BlueprintCompiler::served(const Job& job, ir::CacheLookup&& r,
                                            const CompileTarget& target) {
  CompiledBlueprint out;
  out.key = job.key;
  out.linked = job.linked;
  out.ok = r.ok;
  out.level = r.source == ir::CacheSource::disk ? CompileLevel::disk : CompileLevel::compiled;
  out.ptx = target.ptx;
  out.target = target.name;
  if (r.ok) {
    out.binary = std::make_shared<const std::string>(std::move(r.payload));
  } else {
    out.log = std::move(r.payload);
  }
  return out;
}

CompiledBlueprint BlueprintCompiler::compile_now(const std::string& memory_key,
                                                 const std::vector<std::function<Job()>>& jobs,
                                                 const CompileTarget& target,
                                                 const std::string& no_link) {
  CompiledBlueprint out;
  std::string fallback = no_link.empty() ? "" : "not linked: " + no_link;
  for (const std::function<Job()>& make : jobs) {  // linked, then fused when linked cannot be made
    const Job job = make();
    ir::CacheLookup r = disk_.get_or_compile(
        job.key, [&] { return job.linked ? compile_linked(job) : compile_fused(job); });
    out = served(job, std::move(r), target);
    if (!out.ok && job.linked) fallback = "the linked module could not be made: " + out.log;
    out.fallback = fallback;
    if (out.ok) break;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  memory_[memory_key] = out;
  running_.erase(memory_key);
  return out;
}

namespace {
// The template's key (blueprint_kernel_key of its text, NVRTC's version, its options and the
// architecture), hashed once per process for each of them: every lookup of a linked module needs
// it, and the text is the same for every blueprint of a chunk width.
std::string template_key(const LinkedPrograms& p, int32_t chunk, const std::string& nvrtc_version,
                         const std::string& arch) {
  std::string id = str_cat(chunk, "\n", nvrtc_version, "\n", arch);
  for (const std::string& o : p.templ_options) id += "\n" + o;
  static std::mutex mutex;
  static std::map<std::string, std::string> keys;
  std::lock_guard<std::mutex> lock(mutex);
  std::string& key = keys[id];
  if (key.empty()) key = seed_template_key(*p.templ, nvrtc_version, p.templ_options, arch);
  return key;
}
}  // namespace

std::string BlueprintCompiler::memory_key(const ir::Graph& g, const morph::BlueprintShape& sh,
                                          const std::string& arch, bool ptx, CodegenMode mode) {
  return str_cat(g.hash, "/", sh.chunk, "/", sh.hidden, "/", sh.rank, "/", arch,
                 ptx ? "/ptx/" : "/", codegen_mode_name(mode));
}

bool BlueprintCompiler::setup(const std::string& arch, bool ptx, Setup* s,
                              CompiledBlueprint* unavailable) const {
  const Nvrtc* nvrtc = Nvrtc::get();
  if (!nvrtc && !compile_fn_) {
    unavailable->log = Nvrtc::why();
    return false;  // not remembered: the caller falls back and says so once
  }
  s->target = compile_target(nvrtc ? nvrtc->supported_archs() : std::vector<int>{}, arch, ptx);
  if (nvrtc)
    s->options = blueprint_compile_options(*nvrtc, s->target.name);
  else
    s->options = {"--gpu-architecture=" + s->target.name};
  s->options.insert(s->options.end(), extra_options_.begin(), extra_options_.end());
  s->nvrtc_version = nvrtc ? nvrtc->version() : "none";
  s->minimal = nvrtc && nvrtc->version_at_least(12, 4);
  s->fast_rows = nvrtc && takes_fast_rows(*nvrtc);
  return true;
}

BlueprintCompiler::Job BlueprintCompiler::fused_job(const ir::Graph& g,
                                                    const morph::BlueprintShape& sh,
                                                    const Setup& s) {
  Job f;
  f.name = g.name + ".cu";
  f.arch = s.target.name;
  f.source = blueprint_module_head(g, sh);
  f.options = s.options;
  f.key = fused_module_key(g.canonical_text, f.source, s.nvrtc_version, s.options, f.arch);
  return f;
}

std::string BlueprintCompiler::why_not_linked(const CompileTarget& target) const {
  if (target.ptx) return "a PTX module is not linked";
  if (compile_fn_ && !link_fn_) return "a test compiler without a test linker";
  if (!link_fn_ && !NvJitLink::get()) return NvJitLink::why();
  return "";
}

CompiledBlueprint BlueprintCompiler::get(const ir::Graph& g, const morph::BlueprintShape& sh,
                                         const std::string& arch, bool ptx) {
  return mode_ == CodegenMode::tiered ? get_tiered(g, sh, arch, ptx)
                                      : get_as(g, sh, arch, ptx, mode_);
}

CompiledBlueprint BlueprintCompiler::get_as(const ir::Graph& g, const morph::BlueprintShape& sh,
                                            const std::string& arch, bool ptx, CodegenMode mode) {
  const std::string mkey = memory_key(g, sh, arch, ptx, mode);
  const auto limit = std::chrono::duration<double>(limit_s_);
  std::shared_future<CompiledBlueprint> pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (const auto it = memory_.find(mkey); it != memory_.end()) {
      CompiledBlueprint hit = it->second;
      hit.level = CompileLevel::memory;
      return hit;
    }
    if (const auto it = running_.find(mkey); it != running_.end()) pending = it->second;
  }
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
  Setup s;
  CompiledBlueprint unavailable;
  if (!setup(arch, ptx, &s, &unavailable)) return unavailable;
  const CompileTarget& target = s.target;
  // The ways to make the module, in order: linked (when asked for and possible), then fused. The
  // fused job's source is generated only when it is needed (linked hits skip it).
  std::vector<std::function<Job()>> jobs;
  std::string first_key;
  std::string no_link;  // why a linked module is not tried
  if (mode == CodegenMode::linked) {
    const NvJitLink* nvjitlink = link_fn_ ? nullptr : NvJitLink::get();
    no_link = why_not_linked(target);
    if (no_link.empty()) {
      const LinkedPrograms p = linked_programs(g, sh, s.options, s.minimal, s.fast_rows);
      Job j;
      j.linked = true;
      j.name = g.name + ".cu";
      j.arch = target.name;
      j.source = p.rows;
      j.options = p.rows_options;
      j.templ = p.templ;
      j.templ_options = p.templ_options;
      j.templ_key = template_key(p, sh.chunk, s.nvrtc_version, target.name);
      std::vector<std::string> key_options = p.rows_options;
      key_options.push_back("nvJitLink " + (nvjitlink ? nvjitlink->version() : "test"));
      j.key = blueprint_kernel_key(g.canonical_text, p.rows + j.templ_key, s.nvrtc_version,
                                   key_options, target.name);
      first_key = j.key;
      jobs.push_back([j] { return j; });
    }
  }
  const auto fused = [g, sh, s] { return fused_job(g, sh, s); };
  if (jobs.empty()) {
    const Job f = fused();
    first_key = f.key;
    jobs.push_back([f] { return f; });
  } else {
    jobs.push_back(fused);
  }
  const auto run = [this, mkey, jobs, target, no_link] {
    return compile_now(mkey, jobs, target, no_link);
  };
  if (limit_s_ <= 0.0) return run();
  auto task = std::make_shared<std::packaged_task<CompiledBlueprint()>>(run);
  pending = task->get_future().share();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_[mkey] = pending;
  }
  start_background([task] { (*task)(); });
  if (pending.wait_for(limit) == std::future_status::ready) return pending.get();
  return timed_out(first_key);
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
