#include "ops/blueprint_tuning.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iterator>

#include "core/error.hpp"
#include "ir/kernel_cache.hpp"
#include "kasmina_build_config.hpp"
#include "ops/blueprint_codegen.hpp"

namespace kasmina::ops {

std::vector<int32_t> tune_candidates(const ir::Plan& plan, bool backward, const KernelLimits& lim) {
  std::vector<int32_t> out;
  for (int32_t t : kSeedKernelThreads)
    if (t <= lim.threads && seed_kernel_smem(plan, backward, t) <= lim.smem) out.push_back(t);
  return out;
}

int32_t default_threads(const ir::Plan& plan, bool backward, const KernelLimits& lim) {
  const std::vector<int32_t> fit = tune_candidates(plan, backward, lim);
  int32_t best = 0;
  for (int32_t t : fit)
    if (t <= 256 && seed_kernel_smem(plan, backward, t) <= kDefaultSmemBytes) best = t;
  if (best > 0) return best;
  return fit.empty() ? 0 : fit.front();
}

ir::PerfKey seed_kernel_perf_key(const std::string& kernel_key, bool backward, int64_t batch,
                                 const morph::BlueprintShape& sh, const GpuId& gpu) {
  ir::PerfKey k;
  k.kernel = kernel_key + (backward ? "/backward" : "/forward");
  k.shape = {batch, sh.chunk, std::max(sh.hidden, sh.rank)};
  k.gpu = gpu.name;
  k.sm_count = gpu.sms;
  k.driver = gpu.driver;
  return k;
}

std::string default_perf_db_path() {
  if (const char* env = std::getenv("KASMINA_PERF_DB"); env && *env) return env;
  std::string dir = ir::default_cache_dir();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "-perf.sqlite";
}

namespace {
std::atomic<int32_t> g_autotune{static_cast<int32_t>(Autotune::off)};
constexpr const char* kAutotuneNames[] = {"off", "on_first_use", "exhaustive"};
}  // namespace

const char* autotune_name(Autotune a) {
  return kAutotuneNames[static_cast<int32_t>(a)];
}

bool parse_autotune(const std::string& name, Autotune* out) {
  for (int32_t i = 0; i < 3; ++i)
    if (name == kAutotuneNames[i]) {
      *out = static_cast<Autotune>(i);
      return true;
    }
  return false;
}

std::vector<std::string> autotune_names() {
  return {std::begin(kAutotuneNames), std::end(kAutotuneNames)};
}

void set_autotune(Autotune a) {
  g_autotune.store(static_cast<int32_t>(a));
}

Autotune autotune_mode() {
  return static_cast<Autotune>(g_autotune.load());
}

bool should_tune(Autotune a, bool have_exact_winners) {
  switch (a) {
    case Autotune::off:
      return false;
    case Autotune::on_first_use:
      return !have_exact_winners;
    case Autotune::exhaustive:
      return true;
  }
  return false;
}

bool perf_db_has_winners(const std::string& db_path, const std::vector<ir::PerfKey>& keys) {
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) return false;
  try {
    ir::PerfDb db(db_path);
    for (const ir::PerfKey& k : keys)
      if (!db.winner(k)) return false;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

LaunchChoice choose_launch(const std::string& db_path, const ir::PerfKey& key, const ir::Plan& plan,
                           bool backward, const KernelLimits& lim, std::string* note) {
  LaunchChoice c{default_threads(plan, backward, lim), "default"};
  std::optional<ir::LaunchConfig> found;
  bool exact = false;
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) return c;  // nothing tuned yet: not created here
  try {
    ir::PerfDb db(db_path);
    found = db.winner(key);
    exact = found.has_value();
    if (!found) found = db.nearest(key);
  } catch (const std::exception& e) {
    if (note) *note = std::string("performance database not used: ") + e.what();
    return c;
  }
  if (!found) return c;
  const std::vector<int32_t> fit = tune_candidates(plan, backward, lim);
  if (std::find(fit.begin(), fit.end(), found->block) == fit.end()) return c;
  return {found->block, exact ? "tuned" : "nearest"};
}

}  // namespace kasmina::ops

#if !KASMINA_HAS_CUDA
namespace kasmina::ops {
TuneReport tune_blueprint_kernels(const ir::IrBlueprint&, const morph::BlueprintShape&, Device,
                                  int64_t, int32_t, int32_t, const std::string&, int32_t) {
  TuneReport r;
  r.why = "this build has no CUDA: the autotuner times kernels on a GPU";
  return r;
}
}  // namespace kasmina::ops
#endif
