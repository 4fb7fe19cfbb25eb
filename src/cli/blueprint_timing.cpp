// `kasmina blueprint compile --repeat N`: the lookup times of a compiled blueprint (issue 16's
// in-process hit and disk hit), with the disk hit taken apart into its phases.
#include "cli/blueprint_timing.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "core/str_cat.hpp"
#include "ir/kernel_cache.hpp"
#include "ops/morph/blueprint_module.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::cli {

namespace {

double micros_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

// "median X us, p99 Y us, max Z us" of `us` (sorted here; nearest-rank percentiles).
std::string percentiles(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
  };
  char line[128];
  std::snprintf(line, sizeof line, "median %.2f us, p99 %.2f us, max %.2f us", at(0.5), at(0.99),
                us.back());
  return line;
}

ir::CacheOptions cache_at(const std::string& dir) {
  ir::CacheOptions o;
  o.dir = dir;
  return o;
}

// The disk hit of a fused module in its parts, as BlueprintCompiler::get_tiered makes it (the
// key checked against the one the compiler found): generating the source's head, hashing the key,
// reading and verifying the entry, loading the module (when `load`; unloaded untimed). Off (`on`
// false) when the module the compiler served is not the fused one (a linked module's key hashes
// more).
class DiskParts {
 public:
  DiskParts(const ir::Graph& g, const morph::BlueprintShape& sh, const ops::CompiledBlueprint& c,
            std::string dir, bool load)
      : g_(g), sh_(sh), c_(c), dir_(std::move(dir)), load_(load) {
    nvrtc_ = ops::Nvrtc::get();
    on_ = nvrtc_ && !c.linked;
    if (!on_) return;
    options_ = ops::blueprint_compile_options(*nvrtc_, c.target);
    for (const std::string& o : ops::nvrtc_options_from_env()) options_.push_back(o);
  }

  // One disk hit, its parts timed; off from then on when the key differs from the compiler's.
  void time_once() {
    if (!on_) return;
    auto t0 = std::chrono::steady_clock::now();
    const std::string head = ops::blueprint_module_head(g_, sh_);
    codegen_.push_back(micros_since(t0));
    t0 = std::chrono::steady_clock::now();
    const std::string k =
        ops::fused_module_key(g_.canonical_text, head, nvrtc_->version(), options_, c_.target);
    key_.push_back(micros_since(t0));
    if (k != c_.key) {
      on_ = false;
      return;
    }
    t0 = std::chrono::steady_clock::now();
    ir::KernelCache cache(cache_at(dir_));
    const std::optional<ir::CacheLookup> hit = cache.find(k);
    read_.push_back(micros_since(t0));
    if (!hit || !hit->ok)
      throw InternalError("blueprint compile --repeat: " + k + " is no longer on disk");
    if (!load_) return;
    loaded_.push_back(
        std::max(0.0, ops::time_module_load(std::make_shared<const std::string>(hit->payload))));
    hit_.push_back(read_.back() + loaded_.back());
  }

  // The lines to print (none when off).
  std::string report() const {
    if (!on_ || read_.empty()) return "";
    std::string out = str_cat("  disk hit in parts ", read_.size(), ":\n    source generated  ",
                              percentiles(codegen_), "\n    key hashed        ", percentiles(key_),
                              "\n    read and verified ", percentiles(read_), "\n");
    if (!load_) return out;
    // The disk hit: read, verified and loaded (the key known), each iteration's sum.
    return out + "    loaded            " + percentiles(loaded_) + "\n    read, verified, loaded " +
           percentiles(hit_) + "\n";
  }

 private:
  const ir::Graph& g_;
  const morph::BlueprintShape& sh_;
  const ops::CompiledBlueprint& c_;
  std::string dir_;
  bool load_;
  const ops::Nvrtc* nvrtc_ = nullptr;
  bool on_ = false;
  std::vector<std::string> options_;
  std::vector<double> codegen_, key_, read_, loaded_, hit_;
};

}  // namespace

std::string timed_lookups(ops::BlueprintCompiler& compiler, const ir::Graph& g,
                          const morph::BlueprintShape& sh, const std::string& arch,
                          const std::string& dir, int n) {
  std::vector<double> memory, disk, loaded, kept;
  int64_t nvrtc = 0;
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    compiler.get(g, sh, arch);
    memory.push_back(micros_since(t0));
  }
  const ops::CompiledBlueprint first = compiler.get(g, sh, arch);
  const bool load = ops::time_module_load(first.binary) >= 0.0;
  // The disk hits through a new compiler and in parts interleaved (which goes first alternates),
  // so that both see the same conditions of the machine.
  DiskParts parts(g, sh, first, dir, load);
  for (int i = 0; i < n; ++i) {
    if (i % 2 == 1) parts.time_once();
    ops::BlueprintCompiler fresh(cache_at(dir), ops::nvrtc_options_from_env());
    const auto t0 = std::chrono::steady_clock::now();
    const ops::CompiledBlueprint c = fresh.get(g, sh, arch);
    const double us = micros_since(t0);
    disk.push_back(us);
    if (c.level != ops::CompileLevel::disk)
      throw InternalError("blueprint compile --repeat: a new compiler did not find " + c.key +
                          " on disk (level " + ops::compile_level_name(c.level) + ")");
    nvrtc += fresh.nvrtc_calls();
    if (load) loaded.push_back(us + std::max(0.0, ops::time_module_load(c.binary)));
    if (i % 2 == 0) parts.time_once();
  }
  std::string out = "  memory lookups " + std::to_string(n) + ": " + percentiles(memory) +
                    "\n  disk lookups   " + std::to_string(n) + ": " + percentiles(disk) + ", " +
                    std::to_string(nvrtc) + " NVRTC calls\n";
  if (load) {
    out += "  disk lookups with the load " + std::to_string(n) + ": " + percentiles(loaded) + "\n";
    // As a training process loads modules: each kept loaded (none unloaded between the loads).
    std::vector<std::shared_ptr<const void>> keep;
    for (int i = 0; i < n; ++i) kept.push_back(ops::time_module_load(first.binary, &keep));
    out += "  loads kept loaded " + std::to_string(n) + ": " + percentiles(kept) + "\n";
  }
  return out + parts.report();
}

}  // namespace kasmina::cli
