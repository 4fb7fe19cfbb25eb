// The layer's IR blueprints on CUDA (ops/morph/blueprint_module.hpp): at prepare time each one
// the fused kernels do not contain gets its module (compiled now or found in the caches, never
// during a step) and the lifecycle kernel the table of its initialisers. A blueprint whose module
// cannot be had (NVRTC missing, a failed compile) is dropped from the kinds germinations may
// name, so its germinations are refused (reason refused_blueprint, logged in the events) and
// training goes on; the reason is printed once per process and blueprint. When the generated
// kernels cannot be had, the IR-interpreting kernels run instead (ops/ir_backend.hpp) and the
// reason is printed once. Each IR blueprint leaves a KernelRecord (the bus's kernel event); on
// the CPU the CPU interpreter serves it (level cpu-interpreter, its time the plan's layout).
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>

#include "ir/blueprint.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/morph/blueprint_module.hpp"

namespace kasmina::morph {

namespace {

void warn_once(const std::string& text) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mutex);
  if (said.insert(text).second) std::fprintf(stderr, "kasmina: warning: %s\n", text.c_str());
}

// "WHERE: KERNELS (key 0123456789abcdef, LEVEL, [WHAT]T ms[, of which timing U ms]" (no closing
// parenthesis): a module's line in the run log.
std::string module_line(const std::string& where, const ops::PreparedModule& m,
                        const std::string& what) {
  char ms[64];
  if (m.tune_ms >= 0.0)
    std::snprintf(ms, sizeof ms, "%.1f ms, of which timing %.1f ms", m.ms, m.tune_ms);
  else
    std::snprintf(ms, sizeof ms, "%.1f ms", m.ms);
  return where + ": " + m.module->describe() + " (key " + m.key.substr(0, 16) + ", " + m.level +
         ", " + what + ms;
}

}  // namespace

void KasminaLayer::prepare_modules() {
  allowed_mask_ = 0;
  pending_upgrades_.clear();
  module_notes_.clear();
  kernel_records_.clear();
  buf_.fused_seeds = !dev_.is_cuda();
  std::vector<int32_t> with_modules;
  for (BlueprintKind k : cfg_.allowed_blueprints) {
    const int32_t kind = static_cast<int32_t>(k);
    const BlueprintDescriptor* d = find_blueprint(kind);
    ops::KernelRecord rec;
    if (d) {
      rec.blueprint = d->name;
      rec.kind = kind;
      rec.chunk = buf_.shape.chunk;
    }
    // The CPU twins compute every blueprint; on CUDA the fused kernels the built-ins and the
    // row group (ops/morph/morph_row_group.hpp) the built-in GEMM-path blueprint.
    if (!dev_.is_cuda() || !d || d->in_fused_kernels || kind == kRowMlpKind) {
      allowed_mask_ |= 1u << kind;
      buf_.fused_seeds = true;
      const ir::IrBlueprint* bp = d ? ir::ir_blueprint_of(*d) : nullptr;
      if (bp && !dev_.is_cuda()) {
        const auto t0 = std::chrono::steady_clock::now();
        (void)bp->plan(buf_.shape);
        rec.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count();
        rec.key = bp->graph().hash;
        rec.level = "cpu-interpreter";
        kernel_records_.push_back(rec);
      }
      continue;
    }
    const ops::PreparedModule m = ops::prepare_blueprint_module(*d, buf_.shape, dev_, max_batch_,
                                                                cfg_.seeds, cfg_.pool_slots);
    rec.key = m.key;
    rec.level = m.module ? m.served_by : "refused";
    rec.ms = m.ms;
    rec.tune_ms = m.tune_ms;
    rec.launch = m.launch;
    rec.detail = m.module ? m.note : m.why;
    kernel_records_.push_back(rec);
    const std::string where =
        "kasmina layer " + std::to_string(cfg_.layer_index) + ": blueprint '" + d->name + "'";
    if (!m.module) {
      const std::string text =
          where + " cannot run on " + dev_.str() + " (" + m.why + "); its germinations are refused";
      module_notes_.push_back(text);
      warn_once(text);
      continue;
    }
    // The compile (and tune) event of the run log: key, cache level that served it, time.
    module_notes_.push_back(module_line(where, m, "") +
                            (m.upgrade ? "; its fused kernels compile in the background)" : ")"));
    if (!m.note.empty()) warn_once(where + ": " + m.note);
    if (m.upgrade)  // a tiered compile: upgrade_kernels swaps the fused kernels in
      pending_upgrades_.push_back(
          {buf_.modules.size(), kernel_records_.size() - 1, where, m.upgrade});
    buf_.modules.push_back(m.module);
    with_modules.push_back(kind);
    allowed_mask_ |= 1u << kind;
  }
  buf_.registered_init = ops::registered_init_table(with_modules, buf_.shape, dev_);
}

std::vector<std::string> KasminaLayer::upgrade_kernels(bool wait) {
  std::vector<std::string> said;
  for (auto it = pending_upgrades_.begin(); it != pending_upgrades_.end();) {
    if (!wait && !it->upgrade->ready()) {
      ++it;
      continue;
    }
    const ops::PreparedModule m = it->upgrade->take();
    if (m.module) {
      // The linked kernels stay loaded while the layer lives: a step graph replayed just before
      // may still be running them.
      retired_modules_.push_back(buf_.modules[it->module]);
      buf_.modules[it->module] = m.module;
      ops::KernelRecord rec = kernel_records_[it->record];  // the blueprint's, a new event
      rec.key = m.key;
      rec.level = m.served_by;
      rec.ms = m.ms;
      rec.tune_ms = m.tune_ms;
      rec.launch = m.launch;
      rec.detail = "the fused kernels, compiled in the background, replace the linked ones";
      kernel_records_.push_back(rec);
      said.push_back(module_line(it->where, m, "loaded in ") + ") replaces its linked kernels");
      if (!m.note.empty()) warn_once(it->where + ": " + m.note);
    } else {
      said.push_back(it->where + ": its linked kernels stay (" + m.why + ")");
    }
    module_notes_.push_back(said.back());
    it = pending_upgrades_.erase(it);
  }
  return said;
}

}  // namespace kasmina::morph
