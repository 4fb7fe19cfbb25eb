// `kasmina blueprint tune CONFIG`: the autotuner (ops/blueprint_tuning.hpp) over every IR
// blueprint of the config's kasmina layers, at each layer's shape, seed count and the config's
// batch size, on the first CUDA device; every measurement and the winners go to the performance
// database, which layers read when they prepare. Exit 2 without a CUDA device or when a
// blueprint does not compile.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/blueprint_config.hpp"
#include "cli/kernel_events.hpp"
#include "core/error.hpp"
#include "ops/blueprint_tuning.hpp"
#include "ops/ops.hpp"

namespace kasmina::cli {

namespace {

struct TuneOptions {
  std::string config;
  std::string db = ops::default_perf_db_path();
  int repeats = 20;
  std::string telemetry;  // the kernel events as a telemetry file
};

std::string timings(const char* what, const std::vector<ir::Measurement>& tried, int32_t best) {
  std::string s = std::string("  ") + what + ":";
  for (const ir::Measurement& m : tried) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " b%d %.2f us", m.config.block, m.time_us);
    s += buf;
  }
  return s + "; best b" + std::to_string(best) + "\n";
}

int tune(const TuneOptions& o) {
  const std::vector<IrLayerWork> work = ir_layer_work(o.config);
  ops::init();
  if (!ops::cuda_available())
    throw UserError(std::string("blueprint tune times kernels on a GPU: ") +
                    (ops::cuda_built() ? "no CUDA device found" : "this build has no CUDA"));
  int rc = 0;
  std::string out;
  KernelEventLog events("blueprint tune", o.config, o.telemetry);
  for (const IrLayerWork& w : work) {
    const int32_t active = std::max(1, std::min(w.pool_slots, w.seeds));
    const auto t0 = std::chrono::steady_clock::now();
    const ops::TuneReport r = ops::tune_blueprint_kernels(
        *w.blueprint, w.shape, Device::cuda(0), w.batch, w.seeds, active, o.db, o.repeats);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    events.publish(control::KernelEvent{w.layer, w.name, w.shape.chunk, r.key, r.level, ms,
                                        r.ok ? ms : -1.0,
                                        r.ok ? "forward b" + std::to_string(r.forward_best) +
                                                   ", backward b" + std::to_string(r.backward_best)
                                             : std::string(),
                                        r.ok ? std::string() : r.why});
    out += work_label(w) + " layer " + std::to_string(w.layer) + " B=" + std::to_string(w.batch) +
           " seeds " + std::to_string(w.seeds) + " (" + std::to_string(active) + " active) " +
           r.key + " " + r.level + "\n";
    if (!r.ok) {
      out += "  not tuned: " + r.why + "\n";
      rc = 2;
      continue;
    }
    out += timings("forward", r.forward, r.forward_best);
    out += timings("backward", r.backward, r.backward_best);
  }
  if (work.empty())
    out += "no kasmina layer of the config names an IR blueprint\n";
  else
    out += "results in " + o.db + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  const std::vector<ops::CudaDeviceInfo> devices = ops::list_cuda_devices();
  events.finish("cuda:0 (" + devices.at(0).name + ")");
  return rc;
}

}  // namespace

void add_tune_command(CLI::App* blueprint, int& exit_code) {
  auto o = std::make_shared<TuneOptions>();
  CLI::App* cmd = blueprint->add_subcommand(
      "tune",
      "Time the launch configurations of the generated kernels of a config's IR "
      "blueprints on the GPU; store the results and winners in the performance database");
  cmd->add_option("CONFIG", o->config, "a config whose kasmina layers name IR blueprints")
      ->required();
  cmd->add_option("--db", o->db,
                  "the performance database (default $KASMINA_PERF_DB, else beside the kernel "
                  "cache)");
  cmd->add_option("--repeats", o->repeats, "timed launches per configuration (default 20)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--telemetry", o->telemetry,
                  "also write the kernel events (key, cache level, tuning time and winners) to "
                  "this telemetry file (kasmina inspect telemetry FILE)");
  cmd->callback([o, &exit_code] { exit_code = tune(*o); });
}

}  // namespace kasmina::cli
