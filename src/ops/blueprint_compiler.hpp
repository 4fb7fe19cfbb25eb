// IR blueprint -> cubin, through the caches: in memory (graph hash, shape, architecture -> the
// compiled kernel), then the kernel cache on disk (ir/kernel_cache.hpp), then NVRTC. The disk
// key is the SHA-256 of everything the binary depends on: the canonical IR, the codegen version,
// the generated source, the NVRTC version, the compile options and the architecture (no paths,
// no times). A failed compile is cached too (with its log), so it is not retried every step.
// Loading the cubin and launching it: src/ops/cuda/ir_module.cpp (ops/morph/blueprint_module.hpp).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ir/graph.hpp"
#include "ir/kernel_cache.hpp"
#include "morph/morph_config.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {

enum class CompileLevel { memory, disk, compiled, unavailable };
const char* compile_level_name(CompileLevel level);

struct CompiledBlueprint {
  std::string key;  // the disk key (empty when NVRTC is unavailable)
  bool ok = false;  // false: failed now or before (log), or NVRTC unavailable (log says so)
  std::shared_ptr<const std::string> binary;  // ok: the cubin, shared with the memory cache
  std::string log;                            // the compiler's log, or why nothing was compiled
  CompileLevel level = CompileLevel::unavailable;

  // The cubin (empty when not ok). A memory hit copies a pointer, not the binary.
  const std::string& cubin() const {
    static const std::string none;
    return binary ? *binary : none;
  }
};

class BlueprintCompiler {
 public:
  explicit BlueprintCompiler(ir::CacheOptions disk, std::vector<std::string> extra_options = {});
  // The kernels of `g` at shape `sh` for `arch` ("sm_90").
  CompiledBlueprint get(const ir::Graph& g, const morph::BlueprintShape& sh,
                        const std::string& arch);
  int64_t nvrtc_calls() const { return nvrtc_calls_; }

 private:
  ir::KernelCache disk_;
  std::vector<std::string> extra_options_;
  std::mutex mutex_;
  std::map<std::string, CompiledBlueprint> memory_;
  int64_t nvrtc_calls_ = 0;
};

// The process's compiler over the default kernel cache (ir::default_cache_dir()): the one that
// layers preparing IR blueprints share, so each (blueprint, shape, architecture) is looked up
// in memory after its first use.
BlueprintCompiler& process_blueprint_compiler();

// The CUDA source get() compiles for `g` at shape `sh` (`kasmina blueprint compile --source`).
std::string blueprint_module_source(const ir::Graph& g, const morph::BlueprintShape& sh);

// NVRTC's options for that source: the architecture, the language, and the optimizer (NVRTC
// 12.4 and later) and ptxas (12.8 and later) on two threads each (--split-compile; the same
// machine code).
std::vector<std::string> blueprint_compile_options(const Nvrtc& nvrtc, const std::string& arch);

// The disk key (exposed for tests).
std::string blueprint_kernel_key(const std::string& canonical_text, const std::string& source,
                                 const std::string& nvrtc_version,
                                 const std::vector<std::string>& options, const std::string& arch);

}  // namespace kasmina::ops
