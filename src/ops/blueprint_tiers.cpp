// Tiered compiles (blueprint_compiler.hpp): the fused module when memory or disk holds it; else
// the linked module now and the fused one compiled on a thread of the compiler, handed to the
// caller as an upgrade (a layer swaps it in at a step boundary: KasminaLayer::upgrade_kernels).
// Both modules compute the same bits (the row functions' arithmetic is the same code, and the
// seed kernels combine their results through stores or fused multiply-adds either way:
// src/ir/README.md, "Tiered compiles"), so when the swap happens changes no result.
#include <future>
#include <memory>
#include <mutex>

#include "ops/blueprint_compiler.hpp"

namespace kasmina::ops {

CompiledBlueprint BlueprintCompiler::get_tiered(const ir::Graph& g, const morph::BlueprintShape& sh,
                                                const std::string& arch, bool ptx) {
  const std::string fkey = memory_key(g, sh, arch, ptx, CodegenMode::fused);
  std::shared_future<CompiledBlueprint> pending;
  bool fused_failed = false;  // now or before: the linked module alone, no upgrade
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (const auto it = memory_.find(fkey); it != memory_.end()) {
      if (!it->second.ok) {
        fused_failed = true;
      } else {
        CompiledBlueprint hit = it->second;
        hit.level = CompileLevel::memory;
        return hit;
      }
    }
    if (const auto it = running_.find(fkey); it != running_.end()) pending = it->second;
  }
  Setup s;
  CompiledBlueprint unavailable;
  if (!setup(arch, ptx, &s, &unavailable)) return unavailable;
  Job f;  // the fused module's job (its source generated once): when nothing runs it yet
  // Memory and disk first: a hit needs no linker (nvJitLink is not even loaded: half of a new
  // process's first hit, ~8 ms on the development machine).
  if (!pending.valid() && !fused_failed) {
    f = fused_job(g, sh, s);
    if (std::optional<ir::CacheLookup> e = disk_.find(f.key)) {
      if (e->ok) {
        const CompiledBlueprint out = served(f, std::move(*e), s.target);
        std::lock_guard<std::mutex> lock(mutex_);
        memory_[fkey] = out;
        return out;
      }
      fused_failed = true;
    }
  }
  // Nothing to link (PTX, no nvJitLink): the fused module alone, as `fused` makes it.
  if (!why_not_linked(s.target).empty()) return get_as(g, sh, arch, ptx, CodegenMode::fused);
  CompiledBlueprint linked = get_as(g, sh, arch, ptx, CodegenMode::linked);
  if (!linked.ok || !linked.linked || fused_failed) return linked;
  if (!pending.valid()) {
    std::shared_ptr<std::packaged_task<CompiledBlueprint()>> task;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (const auto it = running_.find(fkey); it != running_.end()) {
        pending = it->second;  // another caller started it meanwhile
      } else {
        const CompileTarget target = s.target;
        task = std::make_shared<std::packaged_task<CompiledBlueprint()>>(
            [this, fkey, f, target] { return compile_now(fkey, {[f] { return f; }}, target, ""); });
        pending = task->get_future().share();
        running_[fkey] = pending;
      }
    }
    if (task) start_background([task] { (*task)(); });
  }
  linked.upgrade = std::make_shared<const FusedUpgrade>(pending);
  return linked;
}

}  // namespace kasmina::ops
