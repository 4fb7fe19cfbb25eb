// IR blueprint -> cubin, through the caches: in memory (graph hash, shape, architecture, codegen
// mode -> the compiled kernel), then the kernel cache on disk (ir/kernel_cache.hpp), then NVRTC.
// A module is one cubin (or PTX text) holding both seed kernels, so that a layer loads one
// library (codegen 9; two programs side by side, one per kernel, until codegen 8: the load of a
// disk hit 20 us shorter at the median on an H100 host, bench/RESULTS.md). It is made one of two
// ways (blueprint_link.hpp), and the codegen mode picks how:
//  - linked (KASMINA_IR_CODEGEN=linked): the blueprint's row functions compiled as relocatable
//    code and linked by nvJitLink, once, to the seed kernels of its chunk width, which are built
//    into the binary (seed_templates.hpp) or compiled once per chunk width and architecture (one
//    relocatable program, kept in the kernel cache under a key of their own, and in memory)
//    while the row functions compile (two programs side by side: the delta's and the backward's);
//  - fused: the module's source compiled as one program, its optimizer and ptxas on two threads
//    (--split-compile; each kernel's machine code is the same as when each was compiled alone,
//    codegen 8's programs);
//  - tiered (the default): the fused module when memory or disk holds it; else the linked one
//    now (about a fifth of the fused compile's time) with the fused one compiled on a thread of
//    the compiler (`upgrade`), in the memory and disk caches once done.
// A linked module that cannot be made (nvJitLink missing, a link error) is cached as a failure
// under its key and the fused module is made instead (fallback says why). The key is the SHA-256
// of everything the binary depends on: the canonical IR, the codegen version, the generated
// source (fused: its head and the seed kernels' digest; linked: the row functions and the
// template's key), the NVRTC version (and nvJitLink's), the
// compile options and the architecture (no paths, no times). A failed compile is cached too (with
// its log), so it is not retried every step. Loading the cubin and launching it:
// src/ops/cuda/ir_module.cpp (ops/morph/blueprint_module.hpp).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ir/graph.hpp"
#include "ir/kernel_cache.hpp"
#include "morph/morph_config.hpp"
#include "ops/blueprint_link.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {

enum class CompileLevel { memory, disk, compiled, unavailable, timed_out };
const char* compile_level_name(CompileLevel level);

class FusedUpgrade;

struct CompiledBlueprint {
  std::string key;  // the disk key (empty when NVRTC is unavailable)
  bool ok = false;  // false: failed now or before (log), NVRTC unavailable, or timed out (log)
  // ok: the module (a cubin or PTX text with both seed kernels), shared with the memory cache
  std::shared_ptr<const std::string> binary;
  std::string log;  // the compiler's log, or why nothing was compiled
  CompileLevel level = CompileLevel::unavailable;
  bool ptx = false;      // binary is PTX text (the driver compiles it when it is loaded)
  std::string target;    // "sm_90" (a cubin) or "compute_90" (PTX)
  bool linked = false;   // the module is linked (else fused)
  std::string fallback;  // asked for linked and got fused: why
  // Tiered, served linked: the fused module being compiled in the background (null otherwise).
  std::shared_ptr<const FusedUpgrade> upgrade;

  // The module (empty when not ok). A memory hit copies a pointer, not the binary.
  const std::string& cubin() const {
    static const std::string none;
    return binary ? *binary : none;
  }
};

// The fused module a tiered compile makes after the linked one (on a thread of the compiler).
class FusedUpgrade {
 public:
  explicit FusedUpgrade(std::shared_future<CompiledBlueprint> f) : f_(std::move(f)) {}
  bool ready() const { return f_.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }
  // Waits for it (level compiled, or disk when another process made it first; !ok: failed).
  const CompiledBlueprint& wait() const { return f_.get(); }

 private:
  std::shared_future<CompiledBlueprint> f_;
};

// What NVRTC is asked for, for a device of architecture `arch` ("sm_90"): a cubin for it when
// NVRTC can target it and PTX is not asked for; else PTX for the newest architecture NVRTC
// supports up to the device's (the driver compiles PTX for a newer device when it loads it).
// `supported`: NVRTC's architectures (empty: unknown, taken to include the device's).
struct CompileTarget {
  std::string name;  // "sm_90" or "compute_90"
  bool ptx = false;
};
CompileTarget compile_target(const std::vector<int>& supported, const std::string& arch, bool ptx);

class BlueprintCompiler {
 public:
  // What compiles a source (NVRTC unless a test sets another): source, name, options.
  using CompileFn = std::function<NvrtcOutput(const std::string&, const std::string&,
                                              const std::vector<std::string>&)>;

  explicit BlueprintCompiler(ir::CacheOptions disk, std::vector<std::string> extra_options = {});
  // Waits for the compiles still running in the background (a tiered compile's fused module, a
  // compile past the time limit); so does the process's exit (blueprint_background.cpp).
  ~BlueprintCompiler();
  BlueprintCompiler(const BlueprintCompiler&) = delete;
  BlueprintCompiler& operator=(const BlueprintCompiler&) = delete;

  // The kernels of `g` at shape `sh` for a device of architecture `arch` ("sm_90"): a cubin, or
  // PTX when `ptx` or when NVRTC cannot target the architecture (compile_target).
  CompiledBlueprint get(const ir::Graph& g, const morph::BlueprintShape& sh,
                        const std::string& arch, bool ptx = false);
  // Compiles this compiler ran (a module, or a linked module's row functions, or a template).
  int64_t nvrtc_calls() const { return nvrtc_calls_; }

  // The time limit of one compile, in seconds (<= 0: none, the default). A compile still running
  // at the limit goes on on its own thread; get() answers timed_out (not remembered), and once
  // it ends its result is in memory and on disk for the next get().
  void set_time_limit(double seconds) { limit_s_ = seconds; }
  // Tests: compile with `fn` instead of NVRTC (the key still names NVRTC's version when it is
  // loaded, else "none"); such a compiler makes fused modules unless a link function is set too.
  void set_compile_function(CompileFn fn) { compile_fn_ = std::move(fn); }
  // Tests: link with `fn` instead of nvJitLink (the cubins, the architecture).
  using LinkFn =
      std::function<NvrtcOutput(const std::vector<const std::string*>&, const std::string&)>;
  void set_link_function(LinkFn fn) { link_fn_ = std::move(fn); }
  // tiered, fused or linked (default: $KASMINA_IR_CODEGEN).
  void set_codegen_mode(CodegenMode mode) { mode_ = mode; }
  CodegenMode codegen_mode() const { return mode_; }
  // Seed-kernel templates (of a chunk width and architecture) compiled by this compiler.
  int64_t template_compiles() const { return template_compiles_; }
  // Waits for the background compiles started so far (the destructor and the exit handler).
  void join_background();
  // Background compiles started and not yet finished.
  int32_t background_running() const { return background_running_; }

 private:
  // Runs `work` on a thread of the compiler (not to be called with mutex_ held).
  void start_background(std::function<void()> work);
  struct Job {  // one way to make the module: its key, sources and options
    bool linked = false;
    std::string key, name, arch;
    std::string source;  // fused: the module's head (seed_kernels_body follows); linked: rows
    std::vector<std::string> options;    // NVRTC's (a fused program adds its kModulePrograms one)
    std::string templ_key;               // linked: the seed kernels of the chunk width
    const std::string* templ = nullptr;  // (linked_template_text, kept for the process)
    std::vector<std::string> templ_options;
  };
  struct Setup {  // what every job of a get() shares: target, options, NVRTC's version
    CompileTarget target;
    std::vector<std::string> options;
    std::string nvrtc_version;
    bool minimal = false;    // NVRTC 12.4 or later (-minimal)
    bool fast_rows = false;  // takes_fast_rows (kFastRowsOption)
  };
  static std::string memory_key(const ir::Graph& g, const morph::BlueprintShape& sh,
                                const std::string& arch, bool ptx, CodegenMode mode);
  bool setup(const std::string& arch, bool ptx, Setup* s, CompiledBlueprint* unavailable) const;
  // Why no linked module can be made for `target` (empty: it can).
  std::string why_not_linked(const CompileTarget& target) const;
  static Job fused_job(const ir::Graph& g, const morph::BlueprintShape& sh, const Setup& s);
  CompiledBlueprint get_as(const ir::Graph& g, const morph::BlueprintShape& sh,
                           const std::string& arch, bool ptx, CodegenMode mode);
  // Tiered (blueprint_tiers.cpp): fused from memory or disk, else linked with an upgrade.
  CompiledBlueprint get_tiered(const ir::Graph& g, const morph::BlueprintShape& sh,
                               const std::string& arch, bool ptx);
  // What the kernel cache, or a compile through it, gave for `job` (level disk or compiled).
  static CompiledBlueprint served(const Job& job, ir::CacheLookup&& r, const CompileTarget& target);
  CompiledBlueprint compile_now(const std::string& memory_key,
                                const std::vector<std::function<Job()>>& jobs,
                                const CompileTarget& target, const std::string& no_link);
  ir::CompileOutcome compile_fused(const Job& job);
  ir::CompileOutcome compile_linked(const Job& job);
  // The seed kernels of a linked job's chunk width (relocatable, two programs): from memory,
  // disk or NVRTC; null with *log when they cannot be had.
  std::shared_ptr<const std::string> template_module(const Job& job, std::string* log);
  NvrtcOutput compile(const std::string& source, const std::string& name,
                      const std::vector<std::string>& options);

  ir::KernelCache disk_;
  std::vector<std::string> extra_options_;
  std::mutex mutex_;
  std::map<std::string, CompiledBlueprint> memory_;
  std::map<std::string, std::shared_future<CompiledBlueprint>> running_;
  std::vector<std::thread> threads_;
  std::map<std::string, std::shared_ptr<const std::string>> templates_;  // key -> module
  std::atomic<int64_t> nvrtc_calls_{0};
  std::atomic<int64_t> template_compiles_{0};
  std::atomic<int32_t> background_running_{0};
  double limit_s_ = 0.0;
  CompileFn compile_fn_;
  LinkFn link_fn_;
  CodegenMode mode_;
};

// Extra NVRTC options from $KASMINA_NVRTC_OPTIONS (separated by spaces; e.g.
// "--Ofast-compile=mid" for an A/B of compile time against kernel speed). They are part of the
// kernel cache key. The process compiler and `kasmina blueprint compile` add them.
std::vector<std::string> nvrtc_options_from_env();

// The process's compiler over the default kernel cache (ir::default_cache_dir()): the one that
// layers preparing IR blueprints share, so each (blueprint, shape, architecture) is looked up
// in memory after its first use.
BlueprintCompiler& process_blueprint_compiler();
// Waits for the background compiles of every compiler in the process (tiered compiles' fused
// modules, compiles past their time limit), which then land in the caches. A process calls it
// before it begins to exit: a compile still inside NVRTC while exit destroys NVRTC's static
// objects crashes it (blueprint_background.cpp).
void finish_background_compiles();
// Background compiles running now, in every compiler of the process.
int32_t running_background_compiles();
// The process compiler's time limit (config `compile_limit_s`; 30 s unless set).
void set_compile_limit(double seconds);
inline constexpr double kDefaultCompileLimitSeconds = 30.0;

// The CUDA source get() compiles for `g` at shape `sh` (`kasmina blueprint compile --source`).
std::string blueprint_module_source(const ir::Graph& g, const morph::BlueprintShape& sh);
// The same without the seed kernels' body (seed_kernels_body, the same for every blueprint):
// what a lookup generates to find the fused module's key.
std::string blueprint_module_head(const ir::Graph& g, const morph::BlueprintShape& sh);
// The fused module's disk key: blueprint_kernel_key of the head followed by the body's SHA-256
// (seed_kernels_body_digest), as a linked module's key hashes its row functions followed by the
// template's key. Every byte of the source still decides the key; a lookup hashes 3-4 KB instead
// of 15 KB (the built-in blueprints at C = 32) and does not copy the body.
std::string fused_module_key(const std::string& canonical_text, const std::string& head,
                             const std::string& nvrtc_version,
                             const std::vector<std::string>& options, const std::string& arch);

// NVRTC's options for that source: the architecture, the language, and the optimizer and ptxas
// on two threads where NVRTC has them.
std::vector<std::string> blueprint_compile_options(const Nvrtc& nvrtc, const std::string& arch);

// A compile's output as the kernel cache stores it: the binary, or the log when it failed.
ir::CompileOutcome compile_outcome(const NvrtcOutput& out);

// The disk key (exposed for tests).
std::string blueprint_kernel_key(const std::string& canonical_text, const std::string& source,
                                 const std::string& nvrtc_version,
                                 const std::vector<std::string>& options, const std::string& arch);

}  // namespace kasmina::ops
