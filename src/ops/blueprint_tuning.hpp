// Launch configurations of the generated seed kernels (blueprint_codegen.hpp): the candidates the
// autotuner times, the defaults, and the choice a layer makes at prepare time from the
// performance database (ir/perf_db.hpp). A configuration is the block size T of one kernel: T
// threads take T rows at a time (the backward's factor tile has T rows), so it is both the block
// size and the rows per block; a block takes one seed at a time. The forward and the backward are
// tuned apart, as two perf-DB kernels "<key>/forward" and "<key>/backward".
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/device.hpp"
#include "ir/perf_db.hpp"
#include "ir/plan.hpp"

namespace kasmina::ops {

inline constexpr int64_t kDefaultSmemBytes = 48 * 1024;  // without the opt-in
inline constexpr int32_t kSeedKernelThreads[] = {32, 64, 128, 256, 512};

// What a device allows a kernel: opt-in shared memory per block, and threads per block (the
// compiled kernel's limit, from its register use).
struct KernelLimits {
  int64_t smem = kDefaultSmemBytes;
  int32_t threads = 1024;
};

// The block sizes within the limits, smallest first.
std::vector<int32_t> tune_candidates(const ir::Plan& plan, bool backward, const KernelLimits& lim);
// Without a measurement: the largest block up to 256 whose shared memory (parameters, and the
// backward's factor tile) fits the default 48 KB, else the smallest candidate that fits max_smem
// (opt-in); 0 when none fits.
int32_t default_threads(const ir::Plan& plan, bool backward, const KernelLimits& lim);

// The GPU a measurement belongs to.
struct GpuId {
  std::string name;
  int32_t sms = 0;
  std::string driver;
};
ir::PerfKey seed_kernel_perf_key(const std::string& kernel_key, bool backward, int64_t batch,
                                 const morph::BlueprintShape& sh, const GpuId& gpu);

// The perf DB file: $KASMINA_PERF_DB, else beside the kernel cache (<cache dir>-perf.sqlite).
std::string default_perf_db_path();

struct LaunchChoice {
  int32_t threads = 0;
  std::string source;  // "tuned" (exact shape), "nearest" (another shape's winner), "default"
};

// When a layer times its generated kernels itself (the config's top-level `autotune:`), at
// prepare time (never inside a step or a graph capture):
//  - off: never; the perf DB's winner for the shape, else the nearest shape's, else the default
//    (runs repeat bit for bit: the block size sets the reduction order);
//  - on_first_use: when the perf DB has no winner for this (kernel, shape, GPU, driver), time
//    every candidate once, store all measurements, use the winner; later runs read it;
//  - exhaustive: time every candidate at every prepare, even over a stored winner (after a
//    driver or clock change), and store the new measurements.
// Process-wide (like the blueprint registry and the caches); default off.
enum class Autotune : int32_t { off, on_first_use, exhaustive };
const char* autotune_name(Autotune a);
bool parse_autotune(const std::string& name, Autotune* out);
std::vector<std::string> autotune_names();
void set_autotune(Autotune a);
Autotune autotune_mode();
// Whether a layer times its kernels now, given whether the perf DB holds the exact shape's winner
// for both of them.
bool should_tune(Autotune a, bool have_exact_winners);
// Whether the perf DB at db_path holds a winner for every key (false when it does not exist or
// cannot be read).
bool perf_db_has_winners(const std::string& db_path, const std::vector<ir::PerfKey>& keys);
inline constexpr int32_t kAutotuneRepeats = 20;  // timed launches per candidate at prepare time
// The block size a layer uses: the perf DB's winner for this shape, else the nearest measured
// shape's, when it is a candidate within the limits; else the default. A database that does not
// exist is not created; one that cannot be opened counts as empty (the reason in *note).
LaunchChoice choose_launch(const std::string& db_path, const ir::PerfKey& key, const ir::Plan& plan,
                           bool backward, const KernelLimits& lim, std::string* note = nullptr);

}  // namespace kasmina::ops

namespace kasmina::ir {
class IrBlueprint;
}

namespace kasmina::ops {

struct TuneReport {
  bool ok = false;
  std::string why;  // !ok: why nothing was timed
  std::string key;  // the kernel cache key
  std::string level;
  std::vector<ir::Measurement> forward, backward;  // every candidate, in candidate order
  int32_t forward_best = 0, backward_best = 0;     // the perf DB's winners
};

// The autotuner (CUDA builds; src/ops/cuda/ir_tune.cpp): compiles (or finds) the seed kernels of
// `bp` at shape `sh`, times every candidate block size of each with CUDA events (outside any
// graph capture: `repeats` launches after two warm-up launches) on a layer of `seeds` seeds with
// batch `batch`, `active` of them blended and training (GRAFTING, alpha 0.5), and records all
// measurements and the winners in the perf DB at db_path. Without CUDA: ok = false.
TuneReport tune_blueprint_kernels(const ir::IrBlueprint& bp, const morph::BlueprintShape& sh,
                                  Device dev, int64_t batch, int32_t seeds, int32_t active,
                                  const std::string& db_path, int32_t repeats);

}  // namespace kasmina::ops
